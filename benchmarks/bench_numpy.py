"""Array code: symgrad's NumPy backend vs a Python loop, hand-written NumPy, JAX and PyTorch, in one run.

    python benchmarks/bench_numpy.py            # 10^6 points, moons 100 steps
    python benchmarks/bench_numpy.py --quick    # 10^4 points, moons 10 steps

1. Value and gradient (8 parameters) of a ~50-node loss, averaged over N
   points: symgrad ``backend="numpy", reduce="mean"``; the scalar backend in a
   Python loop (timed on 10^4 points and scaled); the same value and
   gradient written by hand in NumPy; JAX ``jit(vmap(value_and_grad))``
   then a mean; PyTorch autograd. Every answer is checked against the
   hand-written one before timing.
2. micrograd's moons demo, full batch, 100 steps: symgrad's NumPy backend,
   symgrad's compiled scalar loop, micrograd (timed on 2 steps and scaled),
   and PyTorch with matmuls.
Read the ratios: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import timeit
import types

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from symgrad.datasets import moons

PARAMS = (0.7, 1.3, -0.4, 0.9, 0.5, 0.2, 0.1, -0.3)  # w1..w6, b1, b2
NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2")


def loss_terms(w1, w2, w3, w4, w5, w6, b1, b2, x, t, f):
    """The benchmark's loss at one point, for any number-like inputs and a namespace ``f`` of functions."""
    u1 = w1 * x + b1
    u2 = w3 * x + b2
    pred = (w2 * f.tanh(u1) + w4 * f.sigmoid(u2) + f.exp(-(w5 * x * x)) + w6 * f.sin(x)
            + 0.3 * f.relu(u2) + 0.1 * w6 * f.cos(u1))
    r = pred - t
    return r * r + 0.1 * f.log(1.0 + u1 * u1) + 0.01 * (w1 * w1 + w3 * w3) * abs(x)


def by_hand(x, t, w1, w2, w3, w4, w5, w6, b1, b2):
    """Mean value and gradient, derived and written by hand in NumPy."""
    u1 = w1 * x + b1
    h1 = np.tanh(u1)
    u2 = w3 * x + b2
    h2 = 0.5 + 0.5 * np.tanh(0.5 * u2)
    xx = x * x
    h3 = np.exp(-(w5 * xx))
    s = np.sin(x)
    c1 = np.cos(u1)
    ax = np.abs(x)
    r = w2 * h1 + w4 * h2 + h3 + w6 * s + 0.3 * np.maximum(u2, 0.0) + 0.1 * w6 * c1 - t
    q = 1.0 + u1 * u1
    value = r * r + 0.1 * np.log(q) + 0.01 * (w1 * w1 + w3 * w3) * ax
    dr = 2.0 * r
    du1 = dr * (w2 * (1.0 - h1 * h1) - 0.1 * w6 * np.sin(u1)) + 0.2 * u1 / q
    du2 = dr * (w4 * h2 * (1.0 - h2) + 0.3 * (u2 > 0.0))
    grads = (du1 * x + 0.02 * w1 * ax, dr * h1, du2 * x + 0.02 * w3 * ax, dr * h2, -dr * h3 * xx,
             dr * (s + 0.1 * c1), du1, du2)
    return value.mean(), tuple(g.mean() for g in grads)


def median_time(fn, repeat=5):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def close(got, want, tol=1e-9):
    return all(abs(a - b) <= tol * max(1.0, abs(b)) for a, b in zip(got, want))


def fmt(seconds):
    if seconds is None:
        return "—"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else \
        f"{seconds * 1e6:.1f} µs"


def bench_expression(n, rows):
    rng = np.random.default_rng(0)
    xs, ts = rng.normal(size=n), rng.normal(size=n)
    want_value, want_grads = by_hand(xs, ts, *PARAMS)
    reference = (want_value, *want_grads)

    symbols = sg.symbols(" ".join(NAMES))
    x, t = sg.symbols("x t")
    loss = loss_terms(*symbols, x, t, sg)
    nodes = len(sg.topological_order([loss]))
    fn = sg.compile(loss, wrt=list(symbols), backend="numpy", batch=[x, t], reduce="mean")
    value, grads = fn(*PARAMS, x=xs, t=ts)
    assert close((value, *grads), reference), "symgrad numpy gave a wrong answer"
    results = {"symgrad": median_time(lambda: fn(*PARAMS, x=xs, t=ts))}
    results["hand"] = median_time(lambda: by_hand(xs, ts, *PARAMS))

    scalar = sg.compile(loss, wrt=list(symbols))
    m = min(n, 10_000)
    sub_x, sub_t = xs[:m].tolist(), ts[:m].tolist()

    def loop():
        total, acc = 0.0, [0.0] * 8
        call = scalar._call
        for a, c in zip(sub_x, sub_t):
            v, g = call(*PARAMS, c, a)  # arguments: w..., then t, x (sorted)
            total += v
            acc = list(map(float.__add__, acc, g))
        return total / m, [g / m for g in acc]

    sub_want = by_hand(xs[:m], ts[:m], *PARAMS)
    got = loop()
    assert close((got[0], *got[1]), (sub_want[0], *sub_want[1])), "symgrad scalar loop gave a wrong answer"
    results["loop"] = median_time(loop, repeat=3) * n / m

    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        results["jax"] = None
    else:
        jax.config.update("jax_enable_x64", True)

        functions = types.SimpleNamespace(tanh=jnp.tanh, sigmoid=jax.nn.sigmoid, exp=jnp.exp, log=jnp.log,
                                          sin=jnp.sin, cos=jnp.cos, relu=jax.nn.relu)

        def single(p, a, c):
            return loss_terms(*p, a, c, functions)

        per_point = jax.vmap(jax.value_and_grad(single), in_axes=(None, 0, 0))

        @jax.jit
        def mean_vg(p, a, c):
            v, g = per_point(p, a, c)
            return v.mean(), tuple(gi.mean() for gi in g)

        p, a, c = tuple(jnp.asarray(v) for v in PARAMS), jnp.asarray(xs), jnp.asarray(ts)
        v, g = jax.block_until_ready(mean_vg(p, a, c))
        assert close((float(v), *map(float, g)), reference), "JAX gave a wrong answer"
        results["jax"] = median_time(lambda: jax.block_until_ready(mean_vg(p, a, c)))

    try:
        import torch
    except ImportError:
        results["torch"] = None
    else:
        tx, tt = torch.tensor(xs), torch.tensor(ts)
        tp = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in PARAMS]

        def torch_vg():
            for q in tp:
                q.grad = None
            value = loss_terms(*tp, tx, tt, torch).mean()
            value.backward()
            return value.item(), [q.grad.item() for q in tp]

        got = torch_vg()
        assert close((got[0], *got[1]), reference), "PyTorch gave a wrong answer"
        results["torch"] = median_time(torch_vg)

    label = f"{nodes}-node loss, value + 8-parameter gradient, mean over {n:,} points"
    rows.append((label, "symgrad backend='numpy'", results["symgrad"]))
    rows.append((label, "hand-written NumPy", results["hand"]))
    rows.append((label, f"symgrad scalar code in a Python loop (timed on {m:,} points, scaled)", results["loop"]))
    rows.append((label, "JAX jit(vmap(value_and_grad)) + mean" if results["jax"] else "JAX (not installed)",
                 results["jax"]))
    rows.append((label, "PyTorch autograd" if results["torch"] else "PyTorch (not installed)", results["torch"]))
    return results


def train(backend, steps):
    from symgrad.demo import l2, svm_loss
    from symgrad.nn import MLP

    X, y, _ = moons(n_samples=100, noise=0.1, seed=1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    start = time.perf_counter()
    loss_fn = model.compile_loss(svm_loss, X, y, regularization=l2, backend=backend)
    for k in range(steps):
        model.zero_grad()
        loss, _ = loss_fn()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
    return time.perf_counter() - start, loss


def micrograd_steps(steps):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    X, y, _ = moons(n_samples=100, noise=0.1, seed=1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    start = time.perf_counter()
    for k in range(steps):
        scores = [model([Value(a) for a in row]) for row in X]
        losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
        total = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
    return (time.perf_counter() - start) / steps


def torch_moons(steps):
    import torch

    X, y, _ = moons(n_samples=100, noise=0.1, seed=1337)
    torch.manual_seed(1337)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 1)).double()
    data, labels = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    start = time.perf_counter()
    for k in range(steps):
        scores = model(data)[:, 0]
        loss = torch.relu(1 - labels * scores).mean() + 1e-4 * sum((p * p).sum() for p in model.parameters())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= (1.0 - 0.9 * k / 100) * p.grad
    accuracy = float(((model(data)[:, 0] > 0) == (labels > 0)).double().mean())
    return time.perf_counter() - start, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, steps = (10_000, 10) if args.quick else (1_000_000, 100)
    rows = []
    expr = bench_expression(n, rows)

    numpy_time, numpy_loss = train("numpy", steps)
    python_time, python_loss = train("python", steps)
    assert abs(numpy_loss - python_loss) < 1e-9, "the two symgrad backends disagree"
    rows.append((f"moons, {steps} steps (compile included)", "symgrad backend='numpy' (full batch)", numpy_time))
    rows.append((f"moons, {steps} steps (compile included)", "symgrad compiled scalar loop", python_time))
    try:
        micro = micrograd_steps(2) * steps
        rows.append((f"moons, {steps} steps (compile included)", "micrograd (timed on 2 steps, scaled)", micro))
    except ImportError:
        micro = None
    try:
        torch_time, torch_accuracy = torch_moons(steps)
        rows.append((f"moons, {steps} steps (compile included)",
                     f"PyTorch, matmuls (accuracy {torch_accuracy:.0%})", torch_time))
    except ImportError:
        torch_time = None

    print(f"# NumPy backend benchmark — {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"NumPy {np.__version__}, {os.cpu_count()} cores\n")
    print("| task | system | time |")
    print("|---|---|---|")
    for task, system, seconds in rows:
        print(f"| {task} | {system} | {fmt(seconds)} |")
    print("\n## Ratios")
    print(f"- expression: Python loop / NumPy backend {expr['loop'] / expr['symgrad']:.0f}×; "
          f"NumPy backend / hand-written NumPy {expr['symgrad'] / expr['hand']:.2f}×")
    for system in ("jax", "torch"):
        if expr[system]:
            print(f"- expression: {system} / NumPy backend {expr[system] / expr['symgrad']:.2f}×")
    if micro:
        print(f"- moons: micrograd / symgrad NumPy backend {micro / numpy_time:.0f}×")
    if torch_time:
        print(f"- moons: symgrad NumPy backend / PyTorch {numpy_time / torch_time:.1f}×")
    print(f"(final loss of both symgrad backends: {numpy_loss:.6f} after {steps} steps)")


if __name__ == "__main__":
    main()
