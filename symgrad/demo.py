"""What ``python -m symgrad demo`` shows: compile, read the code, verify, a Hessian, the micrograd numbers, a vector
parameter fitted by SciPy, train."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import symgrad as sg
from symgrad.engine import Value
from symgrad.extras import require
from symgrad.shapes import numpy_module


def micrograd_expression(a: Any, b: Any, relu: Callable[[Any], Any]) -> Any:
    """The expression from micrograd's README, for any number-like a, b."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + relu(b + a)
    d += 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def run(quick: bool = False, plot: str | None = None) -> None:
    """The demo; ``plot``: where to save the figure of section 7 (nothing is written without it)."""
    _section("1. compile an expression to one fused value-and-gradient function")
    x, y = sg.symbols("x y")
    f = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)
    print(f"f = {f}")
    fn = sg.compile(f, wrt=[x, y])
    print(fn.source)
    value, (gx, gy) = fn(0.5, 2.0)
    print(f"f(0.5, 2.0) = {value:.12g},  df/dx = {gx:.12g},  df/dy = {gy:.12g}")
    print(fn.stats)

    _section("2. verify against sympy.diff (symbolic, numeric, finite differences)")
    print(sg.verify(f, [x, y]))

    _section("3. beyond the gradient: the Hessian, compiled and verified against sympy.hessian")
    r = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    newton = sg.compile(r, wrt=[x, y], order=2)
    print(newton.source)
    point = [-1.2, 1.0]
    for _ in range(8):  # Newton's method: solve H d = -g (2x2, by Cramer's rule)
        _, (gx, gy), ((hxx, hxy), (_, hyy)) = newton(*point)
        det = hxx * hyy - hxy * hxy
        point = [point[0] - (hyy * gx - hxy * gy) / det, point[1] - (hxx * gy - hxy * gx) / det]
    print(f"Newton's method from (-1.2, 1) after 8 steps: ({point[0]:.10f}, {point[1]:.10f})")
    print(sg.verify(r, [x, y], order=2))

    _section("4. micrograd's README expression, compiled")
    a, b = sg.symbols("a b")
    g = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])
    value, (ga, gb) = g(-4.0, 2.0)
    print(f"g = {value:.4f}, dg/da = {ga:.4f}, dg/db = {gb:.4f}   (micrograd: 24.7041 138.8338 645.5773)")

    _section("5. a vector parameter: one array in, the gradient as an array, handed to SciPy as it is")
    v = sg.vector("x", 3)
    print(sg.compile(rosenbrock(v), wrt=v).source)
    fit_rosenbrock(100)

    _section("6. micrograd's moons demo, trained by compiled code")
    start = time.perf_counter()
    _, _, _, history = train_moons(steps=30 if quick else 100)
    print(f"final accuracy {history[-1][2] * 100:.0f}% in {time.perf_counter() - start:.2f} s "
          "(examples/moons.py also draws the decision boundary)")

    _section("7. a function of one variable and its derivatives, plotted (sg.plot)")
    plot_derivatives(plot)


def plot_derivatives(path: str | None, log: Callable[[str], None] = print) -> None:
    """``sg.plot`` of x·log(x) and its first two derivatives over (-1, 3), saved to ``path`` if given."""
    if path is None:
        log("python -m symgrad demo --plot f.png saves sg.plot's figure of x*log(x), f' and f'' (needs matplotlib)")
        return
    x = sg.symbol("x")
    try:
        figure = sg.plot(x * sg.log(x), x, (-1.0, 3.0), order=2)
    except ImportError as error:
        log(f"{error}: skipping the plot")
        return
    figure.savefig(path, dpi=100)
    log(f"f = x*log(x) and its derivatives (a gap where x <= 0) saved to {path}")


def rosenbrock(x: Any) -> Any:
    """Extended Rosenbrock over a vector of symbols (or of anything with ``**``)."""
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def fit_rosenbrock(n: int, log: Callable[[str], None] = print) -> None:
    """Minimise extended Rosenbrock of ``n`` variables with SciPy's L-BFGS-B, the compiled function the objective."""
    try:
        minimize = require("scipy.optimize", "the fit").minimize
    except ImportError as missing:
        log(f"{missing}; skipping it")
        return
    numpy = numpy_module()

    x = sg.vector("x", n)
    objective = sg.compile(rosenbrock(x), wrt=x)
    result = minimize(objective, numpy.full(n, -1.2), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 10_000})
    log(f"scipy.optimize.minimize(objective, x0, jac=True, method='L-BFGS-B'), n = {n}: "
        f"f = {result.fun:.3g} after {result.nit} iterations, max |x - 1| = {numpy.abs(result.x - 1).max():.1e}")


def svm_loss(score: Any, y: Any) -> Any:
    """micrograd demo's per-sample max-margin loss."""
    return (1 + -y * score).relu()


def l2(params: Sequence[Any], alpha: float = 1e-4) -> Any:
    """micrograd demo's regularisation: alpha * sum(p*p)."""
    return alpha * sum(p * p for p in params)


def train_moons(steps: int = 100, eager: bool = False, seed: int = 1337, log: Callable[[str], None] = print,
                backend: str = "python") -> tuple[Any, list[list[float]], list[int], list[tuple[int, float, float]]]:
    """micrograd's demo: MLP(2, [16, 16, 1]) on make_moons(100, noise=0.1), SVM loss, SGD.

    ``eager=False`` compiles the loss once and calls the compiled code each
    step; ``eager=True`` builds the Value graph and calls ``backward()`` each
    step, as micrograd does. ``backend="numpy"`` compiles the loss as array
    code over the whole data set (full batch) instead of a loop over samples.
    Returns ``(model, X, y, history)`` where history holds ``(step, loss, accuracy)``.
    """
    import random

    from symgrad.datasets import moons
    from symgrad.nn import MLP

    X, y, source = moons(n_samples=100, noise=0.1, seed=seed)
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    log(f"data: {source}; model: MLP(2, [16, 16, 1]), {len(model.parameters())} parameters; "
        f"{'eager Value.backward()' if eager else 'loss compiled once'}"
        f"{', full batch as NumPy arrays' if backend == 'numpy' and not eager else ''}")
    if not eager:
        loss_fn = model.compile_loss(svm_loss, X, y, regularization=l2, backend=backend)
    history = []
    for k in range(steps):
        model.zero_grad()
        if eager:
            inputs = [[Value(v) for v in row] for row in X]
            scores_v = [model(row) for row in inputs]
            total = sum(svm_loss(s, yi) for s, yi in zip(scores_v, y)) * (1.0 / len(y)) + l2(model.parameters())
            total.backward()
            loss, scores = total.data, [s.data for s in scores_v]
        else:
            loss, scores = loss_fn()
        accuracy = sum((yi > 0) == (s > 0) for yi, s in zip(y, scores)) / len(y)
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((k, loss, accuracy))
        if k % 10 == 0 or k == steps - 1:
            log(f"step {k:3d} loss {loss:.6f}, accuracy {accuracy * 100:.0f}%")
    return model, X, y, history
