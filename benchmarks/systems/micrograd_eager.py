"""micrograd (pip install micrograd): builds the graph of Values and runs backward() in every call."""

from benchmarks import tasks

LABEL = "micrograd"
REQUIRES = ("micrograd",)
EAGER = True


def micrograd(size):
    from micrograd.engine import Value

    def call():
        a, b = (Value(v) for v in tasks.MICROGRAD_POINT)
        g = tasks.micrograd_expression(a, b, lambda v: v.relu())
        g.backward()
        return [g.data, a.grad, b.grad]

    return call


def rosenbrock(n):
    from micrograd.engine import Value

    point = tasks.rosenbrock_point(n)

    def call():
        xs = [Value(v) for v in point]
        f = tasks.rosenbrock_expression(xs)
        f.backward()
        return [f.data, *(x.grad for x in xs)]

    return call


def chain(depth):
    from micrograd.engine import Value

    def call():
        x0 = Value(tasks.CHAIN_START)
        x = x0
        for _ in range(depth):
            x = _sin(x) * 1.01 + 0.1 * x0
        x.backward()
        return [x.data, x0.grad]

    return call


def _sin(v):
    """sin as a micrograd op (micrograd has none), with its local derivative cos."""
    import math

    from micrograd.engine import Value

    out = Value(math.sin(v.data), (v,), "sin")

    def _backward():
        v.grad += math.cos(v.data) * out.grad

    out._backward = _backward
    return out


def moons(steps):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    X, y = tasks.moons_data()
    model = MLP(2, [16, 16, 1])
    parameters = model.parameters()
    start = tasks.initial_parameters()

    def call():
        for p, v in zip(parameters, start):
            p.data = v
        for k in range(steps):
            scores = [model([Value(a) for a in row]) for row in X]
            losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
            total = sum(losses) * (1.0 / len(losses)) + tasks.ALPHA * sum(p * p for p in parameters)
            model.zero_grad()
            total.backward()
            lr = tasks.learning_rate(k)
            for p in parameters:
                p.data -= lr * p.grad
        return [total.data, sum((s.data > 0) == (t > 0) for s, t in zip(scores, y)) / len(y)]

    return call
