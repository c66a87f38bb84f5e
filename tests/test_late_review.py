"""A late review of rolled functions over arrays, of the run probes, and of pickling a function
whose derived graph was never made: each behaviour here was checked and holds."""

import copy
import pickle

import numpy as np
import pytest

import symgrad as sg
from symgrad import compiler, loops
from symgrad.expr import topological_order

A, B, C = sg.symbols("a b c")


def _chain(x, x0, steps):
    for _ in range(steps):
        x = sg.sin(x) * 1.01 + 0.1 * x0
    return x


def _outcome(fn, *args):
    try:
        return fn(*args)
    except (TypeError, ValueError) as error:
        return type(error).__name__, str(error)


def test_a_rolled_function_of_a_matrix_takes_what_the_straight_line_code_takes():
    m = sg.matrix("m", 2, 2)
    out = _chain(m[1, 0], m[0, 1] * C, 30) + m[1, 1]
    rolled, straight = (sg.compile(out, wrt=m, args=[m, C], strategy=s, cache=False) for s in ("loop", "straight"))
    point = np.array([[0.1, 0.2], [0.3, 0.4]])
    for given in (point, point.tolist(), point.astype(np.float32), point.T, point.ravel()):
        got, want = _outcome(rolled, given, 0.3), _outcome(straight, given, 0.3)
        if isinstance(want[0], str):
            assert got == want
            continue
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        assert type(got[1]) is np.ndarray and got[1].shape == (2, 2)  # one array: its gradient bare
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-15)


def test_a_longer_run_through_the_last_quarter_is_kept_over_the_one_through_the_middle():
    shorter = B
    for _ in range(100):
        shorter = sg.tanh(shorter * C) + 0.5
    out = _chain(A, B, 30) * sg.tanh(shorter) + _chain(C, A, 120)
    order = topological_order([out])
    assert loops._run_through(order, {}, len(order) // 2).steps == 99  # the middle falls in the shorter chain
    assert loops.find_run(order).steps == 119
    rolled, straight = (sg.compile(out, wrt=[A, B, C], strategy=s, cache=False) for s in ("loop", "straight"))
    (value, gradient), (want_value, want_gradient) = rolled(0.3, 0.6, 0.2), straight(0.3, 0.6, 0.2)
    assert value == pytest.approx(want_value, rel=1e-12)
    assert gradient == pytest.approx(want_gradient, rel=1e-12)


class _Stored:
    """A pickle of a compiled function's state as an attacker left it."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return (compiler._restore, (self.state,))


def _state(fn):
    return copy.deepcopy(fn.__reduce__()[1][0])


def test_a_rolled_function_pickled_with_an_edited_source_is_refused():
    v = sg.vector("v", 3)
    fn = sg.compile(_chain(v[0], v[1] * C, 40) + v[2], wrt=v, args=[C, v], strategy="loop", cache=False)
    state = _state(fn)
    assert state["n_derived"] == 0  # its derived graph was never made
    state["source"] = state["source"].replace("    try:\n", "    raise SystemExit('altered code ran')\n    try:\n", 1)
    with pytest.raises(sg.SymgradError, match="stored source is not what symgrad generates"):
        sg.loads(pickle.dumps(_Stored(state)))


def test_a_straight_line_function_pickled_as_if_without_its_derived_graph_is_refused():
    fn = sg.compile(_chain(A, B, 5), wrt=[A, B], strategy="straight", cache=False)
    state = _state(fn)
    assert state["n_derived"] > 0
    state["n_derived"] = 0
    with pytest.raises(sg.SymgradError, match="refusing to load"):
        sg.loads(pickle.dumps(_Stored(state)))
