"""The workloads, their sizes and their reference answers (hand-written, checked by nobody else).

Every system computes the same answer for a task and size: a flat list of
floats, compared with ``reference(task, size)`` before anything is timed.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from symgrad.demo import micrograd_expression  # noqa: F401  (the systems build it from here)


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    size_name: str  # what the size counts
    call: str  # what one timed call does
    tolerance: float  # relative, per element


TASKS = {
    t.name: t
    for t in [
        Task("micrograd", "micrograd README expression", (1,), (1,), "", "value + gradient", 1e-9),
        Task("rosenbrock", "extended Rosenbrock, scalar operations", (10, 100, 1000, 10_000, 100_000), (10,),
             "n", "value + gradient", 1e-9),
        Task("chain", "deep chain x[k+1] = sin(x[k])*1.01 + 0.1*x[0]", (100, 1000, 10_000, 100_000, 1_000_000),
             (100,), "depth", "value + derivative", 1e-7),
        Task("hessian", "Rosenbrock Hessian", (10, 100, 1000), (10,), "n", "value + gradient + Hessian", 1e-9),
        Task("moons", "micrograd's moons demo, full batch", (100,), (2,), "steps",
             "the whole training run", 1e-6),
        Task("points", "50-node loss, value + 8-parameter gradient, mean over many points", (1_000_000,),
             (10_000,), "points", "value + gradient", 1e-9),
    ]
}


# ---- 1. the micrograd README expression --------------------------------------------

MICROGRAD_POINT = (-4.0, 2.0)


def micrograd_by_hand(a: float, b: float) -> list[float]:
    """Value and gradient of the README expression, derived and written by hand."""
    c1 = a + b
    c2 = c1 + c1 + 1
    c3 = c2 + 1 + c2 - a
    d1 = a * b + b * b * b
    s1 = b + a
    r1 = s1 if s1 > 0 else 0.0
    d2 = d1 + d1 * 2 + r1
    s2 = b - a
    r2 = s2 if s2 > 0 else 0.0
    d3 = d2 + 3 * d2 + r2
    e = c3 - d3
    f = e * e
    g = f / 2.0 + 10.0 / f
    de = (0.5 - 10.0 / (f * f)) * 2 * e
    dd2 = -de * 4
    dr2 = -de if s2 > 0 else 0.0
    dd1 = dd2 * 3
    dr1 = dd2 if s1 > 0 else 0.0
    dc1 = de * 4
    return [g, -de + dc1 + dd1 * b + dr1 - dr2, dc1 + dd1 * (a + 3 * b * b) + dr1 + dr2]


# ---- 2 and 4. extended Rosenbrock --------------------------------------------------


def rosenbrock_point(n: int) -> list[float]:
    return [math.sin(i) for i in range(n)]


def rosenbrock_expression(xs):
    """sum of 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, written with scalar operations."""
    total = 0
    for i in range(len(xs) - 1):
        total = total + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return total


def rosenbrock_by_hand(v: list[float]) -> list[float]:
    n = len(v)
    value = 0.0
    grad = [0.0] * n
    for i in range(n - 1):
        a = v[i + 1] - v[i] * v[i]
        b = 1 - v[i]
        value += 100 * a * a + b * b
        grad[i] += -400 * v[i] * a - 2 * b
        grad[i + 1] += 200 * a
    return [value, *grad]


def rosenbrock_hessian_by_hand(v: list[float]) -> list[float]:
    """Value, gradient and the dense Hessian (row by row), flat."""
    n = len(v)
    rows = [[0.0] * n for _ in range(n)]
    for i in range(n - 1):
        rows[i][i] += 1200 * v[i] * v[i] - 400 * v[i + 1] + 2
        rows[i][i + 1] = rows[i + 1][i] = -400 * v[i]
        rows[i + 1][i + 1] += 200
    return [*rosenbrock_by_hand(v), *(h for row in rows for h in row)]


# ---- 3. the deep chain ---------------------------------------------------------------

CHAIN_START = 0.3


def chain_expression(x0, depth: int, sin):
    x = x0
    for _ in range(depth):
        x = sin(x) * 1.01 + 0.1 * x0
    return x


def chain_by_hand(x0: float, depth: int) -> list[float]:
    """Value and derivative by forward mode in a plain loop."""
    x, dx = x0, 1.0
    for _ in range(depth):
        x, dx = math.sin(x) * 1.01 + 0.1 * x0, math.cos(x) * 1.01 * dx + 0.1
    return [x, dx]


# ---- 5. the moons demo ---------------------------------------------------------------

LAYERS = (2, 16, 16, 1)
ALPHA = 1e-4


def moons_data() -> tuple[list[list[float]], list[float]]:
    from symgrad.datasets import moons

    X, y, _ = moons(n_samples=100, noise=0.1, seed=1337)
    return X, [float(t) for t in y]


def initial_parameters() -> list[float]:
    """micrograd's MLP(2, [16, 16, 1]) initial weights under random.seed(1337), in its parameters() order."""
    state = random.getstate()
    random.seed(1337)
    flat: list[float] = []
    for nin, nout in itertools.pairwise(LAYERS):
        for _ in range(nout):
            flat.extend(random.uniform(-1, 1) for _ in range(nin))
            flat.append(0.0)
    random.setstate(state)
    return flat


def learning_rate(step: int) -> float:
    return 1.0 - 0.9 * step / 100


def layer_arrays(flat, np):
    """The flat parameters as (W, b) per layer, W of shape (out, in)."""
    layers, at = [], 0
    for nin, nout in itertools.pairwise(LAYERS):
        block = np.asarray(flat[at: at + nout * (nin + 1)], dtype=np.float64).reshape(nout, nin + 1)
        layers.append((block[:, :nin].copy(), block[:, nin].copy()))
        at += nout * (nin + 1)
    return layers


def flat_parameters(layers, np) -> list[float]:
    return [float(v) for W, b in layers for v in np.concatenate([W, b[:, None]], axis=1).ravel()]


def moons_by_hand(steps: int) -> list[float]:
    """Full-batch training with a hand-written NumPy forward and backward pass.

    The answer, for every system: the loss and accuracy computed in the last
    step (before its update), as micrograd's demo prints them.
    """
    import numpy as np

    X, y = moons_data()
    data, labels = np.asarray(X), np.asarray(y)
    layers = layer_arrays(initial_parameters(), np)
    for k in range(steps):
        layers, loss, scores = moons_step_by_hand(layers, data, labels, k, np)
    return [float(loss), float(((scores > 0) == (labels > 0)).mean())]


def moons_step_by_hand(layers, data, labels, k, np):
    """One step of ``moons_by_hand``: the updated layers, the loss and the scores before the update."""
    acts = [data]
    for i, (W, b) in enumerate(layers):
        z = acts[-1] @ W.T + b
        acts.append(np.maximum(z, 0.0) if i < len(layers) - 1 else z)
    scores = acts[-1][:, 0]
    margins = 1.0 - labels * scores
    loss = np.maximum(margins, 0.0).mean() + ALPHA * sum((W * W).sum() + (b * b).sum() for W, b in layers)
    delta = (np.where(margins > 0.0, -labels, 0.0) / len(labels))[:, None]
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        W, b = layers[i]
        grads.append((delta.T @ acts[i] + 2 * ALPHA * W, delta.sum(axis=0) + 2 * ALPHA * b))
        if i:
            delta = (delta @ W) * (acts[i] > 0.0)
    lr = learning_rate(k)
    return [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(layers, reversed(grads))], loss, scores


# ---- 6. a 50-node loss at many points ----------------------------------------------

PARAMS = (0.7, 1.3, -0.4, 0.9, 0.5, 0.2, 0.1, -0.3)  # w1..w6, b1, b2
PARAM_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2")


def points_data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.normal(size=n), rng.normal(size=n)


def point_loss(w1, w2, w3, w4, w5, w6, b1, b2, x, t, f):
    """The loss at one point, for any number-like inputs and a namespace ``f`` of functions."""
    u1 = w1 * x + b1
    u2 = w3 * x + b2
    pred = (w2 * f.tanh(u1) + w4 * f.sigmoid(u2) + f.exp(-(w5 * x * x)) + w6 * f.sin(x)
            + 0.3 * f.relu(u2) + 0.1 * w6 * f.cos(u1))
    r = pred - t
    return r * r + 0.1 * f.log(1.0 + u1 * u1) + 0.01 * (w1 * w1 + w3 * w3) * abs(x)


def points_by_hand(x, t, w1, w2, w3, w4, w5, w6, b1, b2) -> list[float]:
    """Mean value and gradient, derived and written by hand in NumPy."""
    import numpy as np

    u1 = w1 * x + b1
    h1 = np.tanh(u1)
    u2 = w3 * x + b2
    h2 = 1.0 / (1.0 + np.exp(-u2))
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
    return [float(value.mean()), *(float(g.mean()) for g in grads)]


# ---- the reference answers -------------------------------------------------------------


def reference(task: str, size: int) -> list[float]:
    if task == "micrograd":
        return micrograd_by_hand(*MICROGRAD_POINT)
    if task == "rosenbrock":
        return rosenbrock_by_hand(rosenbrock_point(size))
    if task == "chain":
        return chain_by_hand(CHAIN_START, size)
    if task == "hessian":
        return rosenbrock_hessian_by_hand(rosenbrock_point(size))
    if task == "moons":
        return moons_by_hand(size)
    if task == "points":
        return points_by_hand(*points_data(size), *PARAMS)
    raise ValueError(f"unknown task {task!r}")
