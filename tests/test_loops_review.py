"""Graphs built to break the cut of a rolled loop (symgrad/loops.py): each is compiled rolled and
straight, and the two agree, or differ as the README says (a rewrite across the loop)."""

import re

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


def _squaring_chain(steps=40):
    x = X0
    for _ in range(steps):
        x = x * x + W  # from x0 = 3 it overflows to inf, without an error
    return x


def test_a_chain_the_rewritten_output_does_not_read_adds_nothing_to_the_gradient():
    rolled, straight = _both(0.0 * _squaring_chain() + W, [X0, W], strategy="loop")
    assert straight(3.0, 0.5) == (0.5, (0.0, 1.0))
    assert rolled(3.0, 0.5) == straight(3.0, 0.5)  # not 0 * inf, nan, in the reverse loop


def test_a_carried_value_the_rewritten_step_drops_adds_nothing_to_the_gradient():
    x, y = X0, W
    for _ in range(40):
        x, y = sg.sin(x) * 0.5 + (y - y), y * y + W
    rolled, straight = _both(x, [X0, W], strategy="loop")
    _agree(rolled(0.3, 0.5), straight(0.3, 0.5))
    assert straight(0.3, 0.5)[1][1] == 0.0


def test_a_carried_value_read_only_through_a_zero_derivative_adds_nothing_to_the_gradient():
    x, y = X0, W
    for _ in range(40):
        x, y = sg.sin(x) * 0.5 * sg.ops.sign(y), y * y + W
    rolled, straight = _both(x, [X0, W], strategy="loop")
    _agree(rolled(0.3, 0.5), straight(0.3, 0.5))
    reverse_loop = rolled.source.split("# the steps' gradient, in reverse")[1].split("# the gradient through")[0]
    assert "state_2_adjoint = " in reverse_loop and not re.search(r"\bstate_adjoint = ", reverse_loop)


def test_a_constant_output_over_a_rolled_chain_has_a_zero_gradient():
    rolled, straight = _both(0.0 * _squaring_chain() + 1.0, [X0, W], strategy="loop")
    assert rolled(3.0, 0.5) == straight(3.0, 0.5) == (1.0, (0.0, 0.0))


def _plus_minus_chain():
    x = X0
    for k in range(40):
        x = x + W if k % 2 == 0 else x - W
    return x


def test_a_rewrite_across_the_loop_is_not_made_so_a_cancellation_stays_as_documented():
    rolled, straight = _both(_plus_minus_chain(), [X0, W], strategy="loop")
    assert straight(-0.5, 1e300)[0] == -0.5  # x0 + w - w ... rewritten to x0
    assert rolled(-0.5, 1e300)[0] == 0.0  # x0 + w before the loop, - w after it


def test_with_exact_rewrites_a_rolled_chain_computes_the_graph_as_written():
    rolled = sg.compile(_plus_minus_chain(), wrt=[X0, W], strategy="loop", rewrites="exact", cache=False)
    straight = sg.compile(_plus_minus_chain(), wrt=[X0, W], strategy="straight", rewrites="exact", cache=False)
    assert rolled(-0.5, 1e300) == straight(-0.5, 1e300) == (0.0, (1.0, 0.0))
