"""micrograd's demo: an MLP learns make_moons — trained here by code symgrad compiled once.

    python examples/moons.py                 # compiled loss, 100 steps, saves moons.png (boundary and curves)
    python examples/moons.py --eager         # micrograd's way: Value graph + backward() each step
    python examples/moons.py --backend numpy # the loss as array code over the whole data set
    python examples/moons.py --plot out.png  # where to save the decision boundary and training curves

Same data, model, loss and schedule as micrograd's demo.ipynb: make_moons(100,
noise=0.1), labels ±1, MLP(2, [16, 16, 1]), SVM max-margin loss
mean(relu(1 - y*score)) + 1e-4 * sum(p*p), SGD with lr = 1 - 0.9*k/100.
The plot needs matplotlib (pip install -e ".[plot]").
"""

import argparse
import time

import symgrad as sg
from symgrad.demo import train_moons
from symgrad.extras import require


def decision_grid(model, xs, ys):
    """The model's sign at every point (a, b) of the grid, a row per b: one call of array code.

    The input is one parameter, the vector x = (x[0], x[1]); its value here is every point of
    the grid at once, an array of shape (len(ys), len(xs), 2), and the score comes back with
    the grid's shape. The model's parameters are baked in as constants (wrt=[]).
    """
    import numpy as np

    x = sg.vector("x", 2)
    score = sg.compile(model(list(x)), wrt=[], args=[x], backend="numpy", batch=[x]).forward
    points = np.stack(np.meshgrid(xs, ys), axis=-1)  # points[j, i] = (xs[i], ys[j])
    return np.where(score(points) > 0, 1.0, -1.0)


def training_figure(model, X, y, history, resolution=120):
    """The decision boundary (the model's sign over the plane, the data on top) next to the
    training curves (loss and accuracy per step): a matplotlib Figure, made without pyplot."""
    require("matplotlib", "drawing the decision boundary")
    from matplotlib.figure import Figure

    lo0, hi0 = min(r[0] for r in X) - 1, max(r[0] for r in X) + 1
    lo1, hi1 = min(r[1] for r in X) - 1, max(r[1] for r in X) + 1
    xs = [lo0 + (hi0 - lo0) * i / (resolution - 1) for i in range(resolution)]
    ys = [lo1 + (hi1 - lo1) * j / (resolution - 1) for j in range(resolution)]
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    boundary, loss, accuracy = figure.subplots(1, 3, width_ratios=[1.1, 1, 1])
    boundary.contourf(xs, ys, decision_grid(model, xs, ys), cmap="Spectral", alpha=0.8)
    boundary.scatter([r[0] for r in X], [r[1] for r in X], c=y, s=30, cmap="Spectral", edgecolors="k")
    boundary.set(xlim=(lo0, hi0), ylim=(lo1, hi1), title="decision boundary")
    steps = [k for k, _, _ in history]
    loss.plot(steps, [value for _, value, _ in history])
    loss.set(yscale="log", xlabel="step", title="loss (SVM max-margin + L2)")
    accuracy.plot(steps, [100 * a for _, _, a in history], color="tab:green")
    accuracy.set(ylim=(0, 101), xlabel="step", ylabel="%", title="training accuracy")
    figure.suptitle("symgrad: MLP(2, [16, 16, 1]) on make_moons")
    return figure


def save_training_figure(model, X, y, history, path):
    """``training_figure`` saved to ``path`` (a PNG); a hint instead if matplotlib is missing."""
    try:
        figure = training_figure(model, X, y, history)
    except ImportError as missing:
        print(f"{missing}; skipping it")
        return
    figure.savefig(path, dpi=100)
    print(f"decision boundary and training curves saved to {path}")


def main():
    parser = argparse.ArgumentParser(description="micrograd's moons demo on symgrad")
    parser.add_argument("--eager", action="store_true", help="Value graph + backward() every step (slower)")
    parser.add_argument("--backend", choices=["python", "numpy"], default="python",
                        help="numpy: the compiled loss runs as array code over the full batch")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--plot", default="moons.png",
                        help="PNG for the decision boundary and the training curves ('' to skip)")
    args = parser.parse_args()
    start = time.perf_counter()
    model, X, y, history = train_moons(steps=args.steps, eager=args.eager, backend=args.backend)
    print(f"trained in {time.perf_counter() - start:.2f} s; final accuracy {history[-1][2] * 100:.0f}%")
    if args.plot:
        save_training_figure(model, X, y, history, args.plot)


if __name__ == "__main__":
    main()
