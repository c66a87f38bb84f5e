"""symgrad's loop strategy: the deep chain's repeated step written once in a loop, its pullback once
in a reverse loop (``strategy="loop"``; what ``"auto"`` picks for a chain of 5,000 steps or more)."""

import symgrad as sg
from benchmarks import tasks
from benchmarks.systems.symgrad_scalar import _flat, reset  # noqa: F401  (reset: part of the protocol)

LABEL = "symgrad loop"
REQUIRES = ("symgrad",)


def chain(depth):
    x0 = sg.symbol("x0")
    fn = sg.compile(tasks.chain_expression(x0, depth, sg.sin), wrt=[x0], strategy="loop")
    return _flat(fn, [tasks.CHAIN_START])
