"""symgrad: build the graph, derive, rewrite, emit one straight-line Python function, compile it."""

import symgrad as sg
from benchmarks import tasks

LABEL = "symgrad"
REQUIRES = ("symgrad",)


def reset():
    sg.clear_cache()


def _flat(fn, point):
    def call():
        value, grad = fn(*point)
        return [value, *grad]

    call.source = fn.source
    return call


def micrograd(size):
    a, b = sg.symbols("a b")
    fn = sg.compile(tasks.micrograd_expression(a, b, sg.relu), wrt=[a, b], strategy="straight")
    return _flat(fn, tasks.MICROGRAD_POINT)


def rosenbrock(n):
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    fn = sg.compile(tasks.rosenbrock_expression(xs), wrt=xs, strategy="straight")
    return _flat(fn, tasks.rosenbrock_point(n))


def chain(depth):
    x0 = sg.symbol("x0")
    fn = sg.compile(tasks.chain_expression(x0, depth, sg.sin), wrt=[x0], strategy="straight")
    return _flat(fn, [tasks.CHAIN_START])


def hessian(n):
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    fn = sg.compile(tasks.rosenbrock_expression(xs), wrt=xs, order=2)
    point = tasks.rosenbrock_point(n)

    def call():
        value, grad, rows = fn(*point)
        return [value, *grad, *(h for row in rows for h in row)]

    call.source = fn.source
    return call


def train(steps, backend):
    """The moons demo with symgrad's MLP and compiled loss: set-up compiles, the call trains."""
    from symgrad.demo import l2, svm_loss
    from symgrad.nn import MLP

    X, y = tasks.moons_data()
    model = MLP(2, [16, 16, 1])
    parameters = model.parameters()
    loss_fn = model.compile_loss(svm_loss, X, y, regularization=l2, backend=backend)
    start = tasks.initial_parameters()

    def call():
        for p, v in zip(parameters, start):
            p.data = v
        for k in range(steps):
            model.zero_grad()
            loss, scores = loss_fn()
            lr = tasks.learning_rate(k)
            for p in parameters:
                p.data -= lr * p.grad
        return [loss, sum((s > 0) == (t > 0) for s, t in zip(scores, y)) / len(y)]

    return call


def moons(steps):
    return train(steps, "python")


def points(n):
    """The scalar function in a Python loop over the points: what the array backend replaces."""
    names = tasks.PARAM_NAMES
    symbols = sg.symbols(" ".join(names))
    x, t = sg.symbols("x t")
    fn = sg.compile(tasks.point_loss(*symbols, x, t, sg), wrt=list(symbols), args=[*symbols, x, t])
    xs, ts = (a.tolist() for a in tasks.points_data(n))
    params = tasks.PARAMS

    def call():
        total, acc = 0.0, [0.0] * len(names)
        for a, c in zip(xs, ts):
            value, grad = fn(*params, a, c)
            total += value
            acc = list(map(float.__add__, acc, grad))
        return [total / n, *(g / n for g in acc)]

    return call
