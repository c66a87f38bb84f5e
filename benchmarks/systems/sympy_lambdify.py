"""SymPy: build the expression, sympy.diff per variable, lambdify(cse=True) to Python code."""

from benchmarks import tasks

LABEL = "sympy diff + lambdify(cse)"
REQUIRES = ("sympy",)


def _compiled(outputs, xs, point):
    import sympy

    fn = sympy.lambdify(xs, outputs, cse=True, modules="math")
    return lambda: [float(v) for v in fn(*point)]


def _relu(v):
    import sympy

    return sympy.Piecewise((v, v > 0), (0, True))


def micrograd(size):
    import sympy

    a, b = sympy.symbols("a b", real=True)
    g = tasks.micrograd_expression(a, b, _relu)
    return _compiled([g, sympy.diff(g, a), sympy.diff(g, b)], [a, b], tasks.MICROGRAD_POINT)


def rosenbrock(n):
    import sympy

    xs = list(sympy.symbols(f"x0:{n}", real=True))
    f = tasks.rosenbrock_expression(xs)
    return _compiled([f, *(sympy.diff(f, x) for x in xs)], xs, tasks.rosenbrock_point(n))


def chain(depth):
    import sympy

    x0 = sympy.Symbol("x0", real=True)
    f = tasks.chain_expression(x0, depth, sympy.sin)
    return _compiled([f, sympy.diff(f, x0)], [x0], [tasks.CHAIN_START])


def hessian(n):
    import sympy

    xs = list(sympy.symbols(f"x0:{n}", real=True))
    f = tasks.rosenbrock_expression(xs)
    grad = [sympy.diff(f, x) for x in xs]
    rows = sympy.hessian(f, xs).tolist()
    return _compiled([f, *grad, *(h for row in rows for h in row)], xs, tasks.rosenbrock_point(n))
