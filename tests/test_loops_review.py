"""Graphs built to break the cut of a rolled loop (symgrad/loops.py): each is compiled rolled and
straight, and the two must agree."""

import symgrad as sg
from symgrad import loops
from tests.test_loops import _agree, _both

X0, W = sg.symbols("x0 w")


def test_a_step_that_reads_an_invariant_then_the_node_a_period_after_it_is_not_one_run():
    # sin(x0), then x0 * ..., every step times x0 up to the sixth, times sin(x0) after: in the order,
    # sin(x0) is one place after x0, so each step repeats the one before; but the loop of the first
    # step would multiply by x0 throughout.
    x = sg.sin(X0)
    for k in range(20):
        x = x * (X0 if k <= 5 else sg.sin(X0))
    rolled, straight = _both(x, [X0], strategy="loop")
    _agree(rolled(1.2), straight(1.2))
    assert rolled.forward(1.2) == straight.forward(1.2)


def test_the_run_stops_where_a_step_reads_an_argument_from_elsewhere_than_the_step_before_did():
    x = sg.sin(X0)
    for k in range(20):
        x = x * (X0 if k <= 5 else sg.sin(X0))
    run = loops.find_run(sg.topological_order([x]))
    assert run is not None and run.period == 1 and run.steps == 14  # the steps times sin(x0)
