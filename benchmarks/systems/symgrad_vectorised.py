"""symgrad's vectorised strategy: Rosenbrock over one vector of symbols, each group of alike nodes
one NumPy operation (``strategy="vectorised"``), called with a NumPy array as SciPy would."""

import symgrad as sg
from benchmarks import tasks
from benchmarks.systems.symgrad_scalar import reset  # noqa: F401  (part of the protocol)

LABEL = "symgrad vectorised"
REQUIRES = ("symgrad", "numpy")


def rosenbrock(n):
    import numpy

    x = sg.vector("x", n)
    fn = sg.compile(tasks.rosenbrock_expression(list(x)), wrt=x, strategy="vectorised")
    point = numpy.array(tasks.rosenbrock_point(n))

    def call():
        value, grad = fn(point)
        return [value, *grad.tolist()]

    call.source = fn.source
    return call
