"""PyTorch (CPU, float64): eager autograd, the graph built and differentiated in every call."""

from benchmarks import tasks

LABEL = "PyTorch autograd"
REQUIRES = ("torch",)
EAGER = True


def _leaves(values):
    import torch

    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]


def _scalar_task(build, point):
    import torch

    def call():
        xs = _leaves(point)
        out = build(xs)
        grads = torch.autograd.grad(out, xs)
        return [out.item(), *(g.item() for g in grads)]

    return call


def micrograd(size):
    import torch

    return _scalar_task(lambda v: tasks.micrograd_expression(v[0], v[1], torch.relu), tasks.MICROGRAD_POINT)


def rosenbrock(n):
    return _scalar_task(tasks.rosenbrock_expression, tasks.rosenbrock_point(n))


def chain(depth):
    import torch

    return _scalar_task(lambda v: tasks.chain_expression(v[0], depth, torch.sin), [tasks.CHAIN_START])


def hessian(n):
    import torch

    point = torch.tensor(tasks.rosenbrock_point(n), dtype=torch.float64)

    def f(v):
        return tasks.rosenbrock_expression([v[i] for i in range(n)])

    def call():
        x = point.clone().requires_grad_(True)
        value = f(x)
        (grad,) = torch.autograd.grad(value, x)
        rows = torch.autograd.functional.hessian(f, point)
        return [value.item(), *grad.tolist(), *rows.ravel().tolist()]

    return call


def moons(steps):
    """Full batch with matmuls, the same weights and schedule."""
    import numpy as np
    import torch

    X, y = tasks.moons_data()
    data, labels = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    start = tasks.layer_arrays(tasks.initial_parameters(), np)

    def call():
        layers = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in start]
        params = [t for layer in layers for t in layer]
        for k in range(steps):
            act = data
            for i, (W, b) in enumerate(layers):
                act = act @ W.T + b
                if i < len(layers) - 1:
                    act = torch.relu(act)
            scores = act[:, 0]
            loss = torch.relu(1 - labels * scores).mean() + tasks.ALPHA * sum((t * t).sum() for t in params)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for t, g in zip(params, grads):
                    t -= tasks.learning_rate(k) * g
        return [loss.item(), ((scores > 0) == (labels > 0)).double().mean().item()]

    return call


def points(n):
    import torch

    xs, ts = (torch.tensor(v) for v in tasks.points_data(n))

    def call():
        params = _leaves(tasks.PARAMS)
        value = tasks.point_loss(*params, xs, ts, torch).mean()
        grads = torch.autograd.grad(value, params)
        return [value.item(), *(g.item() for g in grads)]

    return call
