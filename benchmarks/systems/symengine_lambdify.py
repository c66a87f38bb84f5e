"""SymEngine (C++ symbolic core): build, diff per variable, Lambdify(cse=True)."""

from benchmarks import tasks

LABEL = "symengine diff + Lambdify(cse)"
REQUIRES = ("symengine",)


def _compiled(outputs, xs, point):
    import symengine

    fn = symengine.Lambdify(xs, outputs, cse=True)
    return lambda: [float(v) for v in fn(point)]


def micrograd(size):
    import symengine

    a, b = symengine.symbols("a b")

    def relu(v):
        return symengine.Piecewise((v, symengine.Gt(v, 0)), (symengine.Integer(0), True))

    g = tasks.micrograd_expression(a, b, relu)
    return _compiled([g, g.diff(a), g.diff(b)], [a, b], tasks.MICROGRAD_POINT)


def rosenbrock(n):
    import symengine

    xs = list(symengine.symbols(f"x0:{n}"))
    f = tasks.rosenbrock_expression(xs)
    return _compiled([f, *(f.diff(x) for x in xs)], xs, tasks.rosenbrock_point(n))


def chain(depth):
    import symengine

    x0 = symengine.Symbol("x0")
    f = tasks.chain_expression(x0, depth, symengine.sin)
    return _compiled([f, f.diff(x0)], [x0], [tasks.CHAIN_START])


def hessian(n):
    import symengine

    xs = list(symengine.symbols(f"x0:{n}"))
    f = tasks.rosenbrock_expression(xs)
    grad = [f.diff(x) for x in xs]
    return _compiled([f, *grad, *(g.diff(x) for g in grad for x in xs)], xs, tasks.rosenbrock_point(n))
