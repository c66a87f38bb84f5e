"""Hand-written code: the CPython limit for scalar work (straight-line Python), hand-derived NumPy for arrays."""

from benchmarks import tasks

LABEL = "hand-written"
REQUIRES = ()
EAGER = True


def micrograd(size):
    return lambda: tasks.micrograd_by_hand(*tasks.MICROGRAD_POINT)


def unrolled_rosenbrock(n: int):
    """Value and gradient of Rosenbrock as straight-line Python, one line per term: hand-unrolled code."""
    names = [f"x{i}" for i in range(n)]
    lines = [f"def rosenbrock({', '.join(names)}):", "    value = 0.0"]
    lines += [f"    g{i} = 0.0" for i in range(n)]
    for i in range(n - 1):
        lines += [f"    a = x{i + 1} - x{i} * x{i}", f"    b = 1.0 - x{i}",
                  "    value += 100.0 * a * a + b * b",
                  f"    g{i} += -400.0 * x{i} * a - 2.0 * b", f"    g{i + 1} += 200.0 * a"]
    lines.append(f"    return value, ({', '.join(f'g{i}' for i in range(n))},)")
    namespace: dict = {}
    exec(compile("\n".join(lines) + "\n", f"<hand-unrolled rosenbrock {n}>", "exec"), namespace)
    return namespace["rosenbrock"]


def rosenbrock(n):
    fn, point = unrolled_rosenbrock(n), tasks.rosenbrock_point(n)

    def call():
        value, grad = fn(*point)
        return [value, *grad]

    return call


def chain(depth):
    return lambda: tasks.chain_by_hand(tasks.CHAIN_START, depth)


def hessian(n):
    point = tasks.rosenbrock_point(n)
    return lambda: tasks.rosenbrock_hessian_by_hand(point)


def moons(steps):
    return lambda: tasks.moons_by_hand(steps)


def points(n):
    data = tasks.points_data(n)
    return lambda: tasks.points_by_hand(*data, *tasks.PARAMS)
