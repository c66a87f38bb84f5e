"""symgrad's array backend: the same graph emitted as array code, run over whole batches."""

import symgrad as sg
from benchmarks import tasks
from benchmarks.systems.symgrad_scalar import reset, train  # noqa: F401  (reset: part of the protocol)

LABEL = "symgrad backend='numpy'"
REQUIRES = ("symgrad", "numpy")


def moons(steps):
    return train(steps, "numpy")


def points(n):
    symbols = sg.symbols(" ".join(tasks.PARAM_NAMES))
    x, t = sg.symbols("x t")
    fn = sg.compile(tasks.point_loss(*symbols, x, t, sg), wrt=list(symbols), backend="numpy", batch=[x, t],
                    reduce="mean")
    xs, ts = tasks.points_data(n)

    def call():
        value, grad = fn(*tasks.PARAMS, x=xs, t=ts)
        return [float(value), *map(float, grad)]

    call.source = fn.source
    return call
