"""One full-batch step of micrograd's moons MLP(2, [16, 16, 1]) (100 samples), each system in one
process, timed in alternation round after round (the machine is shared: read the ratios).

    python benchmarks/bench_moons_step.py            # 7 rounds of 300 steps each
    python benchmarks/bench_moons_step.py --rounds 15 --steps 500

Systems: hand-written NumPy (matmuls: ``benchmarks.tasks.moons_step_by_hand``); PyTorch eager
(float64, autograd each step), if installed; symgrad's ``compile_loss(..., backend="numpy")``
called as micrograd's loop does (``loss_fn()``, then ``p.data -= lr * p.grad`` over 337 Values)
and over one parameter vector (``loss_fn.loss_and_grad(theta)``, ``theta -= lr * grad``); and
the compiled per-sample function alone, batched (``strategy="auto"``) and straight array code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import tasks


def hand_written(np):
    data, labels = (np.asarray(a) for a in tasks.moons_data())
    state = [tasks.layer_arrays(tasks.initial_parameters(), np)]

    def step():
        state[0] = tasks.moons_step_by_hand(state[0], data, labels, 0, np)[0]

    return step


def torch_eager():
    import torch

    X, y = tasks.moons_data()
    data, labels = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    import numpy as np

    layers = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in tasks.layer_arrays(tasks.initial_parameters(), np)]
    params = [t for layer in layers for t in layer]

    def step():
        act = data
        for i, (W, b) in enumerate(layers):
            act = act @ W.T + b
            if i < len(layers) - 1:
                act = torch.relu(act)
        loss = torch.relu(1 - labels * act[:, 0]).mean() + tasks.ALPHA * sum((t * t).sum() for t in params)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for t, g in zip(params, grads):
                t -= tasks.learning_rate(0) * g

    return step


def symgrad_loss(strategy="auto"):
    import random

    from symgrad.demo import l2, svm_loss
    from symgrad.nn import MLP

    X, y = tasks.moons_data()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    return model, model.compile_loss(svm_loss, X, y, regularization=l2, backend="numpy", strategy=strategy)


def symgrad_values():
    model, loss_fn = symgrad_loss()
    parameters = model.parameters()

    def step():
        model.zero_grad()
        loss_fn()
        for p in parameters:
            p.data -= 0.1 * p.grad

    return step


def symgrad_vector():
    _, loss_fn = symgrad_loss()
    theta = [loss_fn._theta()]

    def step():
        _, grad, _ = loss_fn.loss_and_grad(theta[0])
        theta[0] = theta[0] - 0.1 * grad

    return step


def per_sample(strategy):
    def make():
        _, loss_fn = symgrad_loss(strategy)
        fn, args = loss_fn.per_sample._call, (loss_fn._theta(), loss_fn.inputs, loss_fn.targets)
        return lambda: fn(*args)

    return make


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    options = parser.parse_args()
    systems = {"hand-written NumPy": lambda: hand_written(np)}
    try:
        import torch  # noqa: F401

        systems["PyTorch eager"] = torch_eager
    except ImportError:
        print("(PyTorch is not installed: its row is left out)")
    systems.update({
        "symgrad loss_fn() + Values": symgrad_values,
        "symgrad loss_and_grad(theta)": symgrad_vector,
        "  its sample_loss_and_grad alone, batched": per_sample("auto"),
        "  the same, straight array code": per_sample("straight"),
    })
    steps = {name: make() for name, make in systems.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(options.rounds):
        for name, step in steps.items():
            times[name].append(timeit.timeit(step, number=options.steps) / options.steps)
    best = {name: min(found) for name, found in times.items()}
    hand, torch_time = best["hand-written NumPy"], best.get("PyTorch eager")
    print(f"moons MLP(2, [16, 16, 1]), 100 samples, one full-batch step; best of {options.rounds} rounds "
          f"of {options.steps} (median in brackets)")
    print(f"{'system':44} {'µs/step':>16} {'÷ hand':>8} {'÷ torch':>8}")
    for name, found in times.items():
        vs_torch = f"{best[name] / torch_time:8.2f}" if torch_time else f"{'':8}"
        print(f"{name:44} {best[name] * 1e6:7.1f} ({statistics.median(found) * 1e6:6.1f}) "
              f"{best[name] / hand:8.2f} {vs_torch}")


if __name__ == "__main__":
    main()
