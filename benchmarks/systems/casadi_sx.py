"""CasADi SX (C++ scalar expression graphs): build, gradient/hessian, a compiled ca.Function (its VM)."""

from benchmarks import tasks

LABEL = "CasADi SX"
REQUIRES = ("casadi",)


def _dense(value):
    import casadi

    return [float(v) for v in casadi.DM(value).full().ravel(order="C")]


def _function(inputs, outputs, point):
    import casadi

    fn = casadi.Function("f", [inputs], outputs)
    return lambda: [v for out in fn(point) for v in _dense(out)] if len(outputs) > 1 else _dense(fn(point))


def micrograd(size):
    import casadi

    x = casadi.SX.sym("x", 2)
    g = tasks.micrograd_expression(x[0], x[1], lambda v: casadi.fmax(v, 0))
    return _function(x, [g, casadi.gradient(g, x)], list(tasks.MICROGRAD_POINT))


def rosenbrock(n):
    import casadi

    x = casadi.SX.sym("x", n)
    f = tasks.rosenbrock_expression([x[i] for i in range(n)])
    return _function(x, [f, casadi.gradient(f, x)], tasks.rosenbrock_point(n))


def chain(depth):
    import casadi

    x = casadi.SX.sym("x")
    f = tasks.chain_expression(x, depth, casadi.sin)
    return _function(x, [f, casadi.gradient(f, x)], [tasks.CHAIN_START])


def hessian(n):
    import casadi

    x = casadi.SX.sym("x", n)
    f = tasks.rosenbrock_expression([x[i] for i in range(n)])
    h, g = casadi.hessian(f, x)
    return _function(x, [f, g, casadi.densify(h)], tasks.rosenbrock_point(n))


def moons(steps):
    """The loss as an SX function of the parameters (built with scalar ops, like symgrad's), SGD in Python."""
    import casadi
    import numpy as np

    X, y = tasks.moons_data()
    start = tasks.initial_parameters()
    p = casadi.SX.sym("p", len(start))
    layers, at = [], 0
    for nin, nout in zip(tasks.LAYERS, tasks.LAYERS[1:]):
        layers.append([([p[at + j * (nin + 1) + i] for i in range(nin)], p[at + j * (nin + 1) + nin])
                       for j in range(nout)])
        at += nout * (nin + 1)
    total, scores = 0, []
    for row, target in zip(X, y):
        acts = list(row)
        for depth, layer in enumerate(layers):
            outs = [sum((w * a for w, a in zip(ws, acts)), b) for ws, b in layer]
            acts = [casadi.fmax(o, 0) for o in outs] if depth < len(layers) - 1 else outs
        scores.append(acts[0])
        total = total + casadi.fmax(1 - target * acts[0], 0)
    loss = total / len(y) + tasks.ALPHA * casadi.sumsqr(p)
    fn = casadi.Function("loss", [p], [loss, casadi.gradient(loss, p), casadi.vertcat(*scores)])

    def call():
        params = np.asarray(start)
        for k in range(steps):
            value, grad, out = fn(params)
            params = params - tasks.learning_rate(k) * grad.full().ravel()
        out = out.full().ravel()
        return [float(value), float(np.mean((out > 0) == (np.asarray(y) > 0)))]

    return call
