"""A logistic regression fitted by SciPy: the weights are one vector, the compiled loss is the objective.

    python examples/fit_scipy.py               # 200 points of make_moons, quadratic features
    python examples/fit_scipy.py --points 500

The model is p(y = 1 | x) = sigmoid(w · phi(x)) with phi(x) = (1, x1, x2, x1², x1 x2, x2²),
fitted by minimising the mean logistic loss plus a small L2 penalty. The loss is written
with NumPy's own operators over an array of symbols (``features @ w``, ``.mean()``); the
data are constants of the graph, so one compile serves every step of the optimiser, and
``scipy.optimize.minimize(fit, w0, jac=True)`` takes the compiled function as it is: it
returns the loss and its gradient as a float64 array. Needs SciPy (pip install -e ".[scipy]").
"""

import argparse
import time
import timeit

import numpy as np

import symgrad as sg
from symgrad.datasets import make_moons
from symgrad.extras import require

optimize = require("scipy.optimize", "examples/fit_scipy.py")


def quadratic_features(points: np.ndarray) -> np.ndarray:
    x1, x2 = points[:, 0], points[:, 1]
    return np.column_stack([np.ones_like(x1), x1, x2, x1 * x1, x1 * x2, x2 * x2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    options = parser.parse_args()

    points, labels = make_moons(options.points, noise=0.1)
    features, signs = quadratic_features(np.array(points)), 2.0 * np.array(labels) - 1.0  # labels ±1

    w = sg.vector("w", features.shape[1])
    margins = signs * (features @ w)  # an array of expressions, one per data point
    loss = sg.log(1 + sg.exp(-margins)).mean() + 1e-3 * (w @ w)

    start = time.perf_counter()
    fit = sg.compile(loss, wrt=w)
    print(f"compiled the loss of {options.points} points in {time.perf_counter() - start:.2f} s "
          f"({fit.stats.lines} lines of code)")
    gap = optimize.check_grad(lambda v: fit(v)[0], lambda v: fit(v)[1], np.zeros(6))
    print(f"gradient vs finite differences: {gap:.1e}")

    result = optimize.minimize(fit, np.zeros(w.size), jac=True, method="L-BFGS-B")
    per_call = min(timeit.repeat(lambda: fit(result.x), number=200, repeat=5)) / 200
    predicted = (features @ result.x > 0).astype(int)
    print(f"L-BFGS-B: {result.message} after {result.nit} iterations, {result.nfev} calls of the loss "
          f"({per_call * 1e6:.0f} µs each)")
    print(f"loss {result.fun:.6f}, |gradient| {np.abs(result.jac).max():.1e}")
    print(f"weights {np.array2string(result.x, precision=3)}")
    print(f"training accuracy {np.mean(predicted == np.array(labels)) * 100:.1f}%")


if __name__ == "__main__":
    main()
