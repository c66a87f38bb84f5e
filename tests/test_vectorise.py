"""The vectorised strategy: wide graphs as a few NumPy operations, computing what straight-line code does."""

import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.expr import rebuild_graph, serialise_graph
from tests.oracles import table_branches
from tests.test_properties import EXPONENTS, SETTINGS


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


X = sg.vector("x", 1000)
POINT = np.linspace(-1.2, 1.0, 1000)


def test_auto_keeps_a_small_graph_straight_line():
    fn = sg.compile(rosenbrock(X[:10]), wrt=list(X[:10]))
    assert "fewer than" in fn.stats.strategy and "v[" not in fn.source


def test_auto_vectorises_a_wide_graph_and_says_why():
    fn = sg.compile(rosenbrock(X), wrt=X)
    assert fn.stats.strategy.startswith("auto: ") and "groups over" in fn.stats.strategy
    assert fn.stats.lines < 40
    assert re.search(r"v\[\d+:\d+\] = v\[0:999\] \* v\[0:999\]  # x\[0\]\*\*2 \.\.\. ×999", fn.source)


def test_auto_keeps_a_deep_narrow_graph_straight_line():
    x = sg.symbol("x")
    e = x
    for k in range(3000):  # each step its own constant: no step repeats (symgrad.loops would roll it)
        e = sg.sin(e) * (1.0 + k * 1e-6) + 0.1 * x
    fn = sg.compile(e, wrt=[x])
    assert "straight-line" in fn.stats.strategy and "v[" not in fn.source


def test_the_vectorised_gradient_is_the_straight_line_gradient_bit_for_bit():
    vectorised = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised")
    straight = sg.compile(rosenbrock(X), wrt=X, strategy="straight")
    (value, gradient), (want_value, want_gradient) = vectorised(POINT), straight(POINT)
    np.testing.assert_array_equal(gradient, want_gradient)  # no sum of more than INLINE_TERMS terms in it
    assert value == pytest.approx(want_value, rel=1e-13)  # one long sum: NumPy's pairwise summation


def test_a_long_sum_is_one_numpy_sum():
    assert "= _sum(v[" in sg.compile(rosenbrock(X), wrt=X, strategy="vectorised").source


@pytest.mark.parametrize("sign", [1, -1])
def test_a_long_sum_counts_a_term_it_repeats_every_time(sign):
    # One slot as every term on a side of the sum: read once, it must still count once per term.
    s = sg.symbol("s")
    total = sg.const(0.0)
    for i in range(len(X)):
        total = total - sign * sg.exp(X[i]) + sign * s  # the other side's terms all differ
    args = (POINT, 0.25)
    (value, (_, d_s)), (want, (_, want_d_s)) = (sg.compile(total, wrt=[X, s], strategy=strategy)(*args)
                                                for strategy in ("vectorised", "straight"))
    assert value == pytest.approx(want, rel=1e-13)
    assert d_s == want_d_s == sign * len(X)


def test_a_domain_error_is_the_straight_line_codes_error_naming_the_element():
    fn = sg.compile(sg.log(X).sum(), wrt=X, strategy="vectorised")
    point = np.ones(1000)
    point[471] = 0.0
    with pytest.raises(sg.EvaluationError, match=r"log failed .*\n  in the subexpression log\(x\[471\]\)"):
        fn(point)


def test_inf_and_nan_inputs_give_what_straight_line_code_gives():
    vectorised = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised")
    straight = sg.compile(rosenbrock(X), wrt=X, strategy="straight")
    for bad in (math.inf, math.nan):
        point = POINT.copy()
        point[7] = bad
        (value, gradient), (want_value, want_gradient) = vectorised(point), straight(point)
        assert repr(value) == repr(want_value)
        np.testing.assert_array_equal(gradient, want_gradient)


def test_an_array_of_outputs_and_its_jacobian_blocks_vectorise():
    w, b, u = sg.matrix("W", 60, 40), sg.vector("b", 60), sg.vector("u", 40)
    h = sg.tanh(w @ u + b)
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(60, 40)) / 10, rng.normal(size=60), rng.normal(size=40))
    vectorised = sg.compile(h, wrt=[w, b], strategy="vectorised")
    straight = sg.compile(h, wrt=[w, b], strategy="straight")
    (values, (jw, jb)), (want_values, (want_jw, want_jb)) = vectorised(*args), straight(*args)
    np.testing.assert_allclose(values, want_values, rtol=1e-14)
    np.testing.assert_allclose(jw, want_jw, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(jb, want_jb, rtol=1e-14)  # numpy.tanh and math.tanh may differ in the last bit


def test_scalar_parameters_and_aux_values_vectorise_too():
    a = sg.symbol("a")
    f = (a * X).sum()
    fn = sg.compile(f, wrt=[a], args=[a, X], aux=[X[0] * 2], strategy="vectorised")
    value, (ga,), (first,) = fn(2.0, POINT)
    assert value == pytest.approx(2.0 * POINT.sum(), rel=1e-13) and ga == pytest.approx(POINT.sum(), rel=1e-13)
    assert first == 2 * POINT[0]
    with pytest.raises(TypeError, match="argument 'a'"):
        fn("2", POINT)


def test_a_vectorised_function_pickles_and_loads_back():
    fn = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised")
    back = sg.loads(pickle.dumps(fn))
    assert back.source == fn.source
    np.testing.assert_array_equal(back(POINT)[1], fn(POINT)[1])


@pytest.mark.parametrize("options, message", [
    ({"order": 2}, "order=2"), ({"strategy": "fast"}, "strategy must be one of"),
])
def test_what_the_vectorised_strategy_does_not_take_is_refused_with_a_reason(options, message):
    with pytest.raises(ValueError, match=message):
        sg.compile(rosenbrock(X[:20]), wrt=X[:20].tolist(), **{"strategy": "vectorised", **options})


def test_a_hostile_array_name_never_reaches_the_source_as_code():
    hostile = sg.vector("__import__('os').system('echo pwned')", 3000)
    source = sg.compile((hostile * hostile).sum(), wrt=hostile, strategy="vectorised").source
    code = [line.split("#")[0] for line in source.splitlines()]
    assert not any("__import__" in line or "system(" in line for line in code)


# ---- random wide graphs: a loop body over x[i], x[i+1], summed ----

_A, _B = sg.symbols("a b")
_bodies = st.recursive(st.one_of(st.sampled_from([_A, _B]), st.floats(-3, 3, allow_nan=False).map(sg.const)),
                       lambda children: st.one_of(*table_branches(children, EXPONENTS)), max_leaves=6)


def _instance(body, a, b):
    records, roots = serialise_graph([body])
    names = {"a": a.name, "b": b.name}
    return rebuild_graph([(r[0], names.get(r[1], r[1]), r[2]) if r[0] == "symbol" else r for r in records],
                         roots)[0]


@settings(SETTINGS, max_examples=40)
@given(_bodies, st.integers(0, 2**31))
def test_a_random_wide_graph_computes_what_straight_line_code_computes(body, seed):
    x = sg.vector("x", 30)
    f = sum(_instance(body, x[i], x[i + 1]) * (i % 3 + 1) for i in range(29))
    f = f if isinstance(f, sg.Expr) else sg.const(float(f))
    point = np.random.default_rng(seed).uniform(-2, 2, 30)

    def outcome(strategy):
        try:
            value, gradient = sg.compile(f, wrt=x, strategy=strategy)(point)
        except (sg.EvaluationError, ArithmeticError, ValueError) as error:
            return type(error).__name__, None
        return value, gradient

    (value, gradient), (want_value, want_gradient) = outcome("vectorised"), outcome("straight")
    if isinstance(want_value, str) or want_gradient is None:
        assert value == want_value
        return
    scale = 1 + abs(want_value) + float(np.abs(want_gradient).max(initial=0.0))
    assert abs(value - want_value) <= 1e-12 * scale or (math.isnan(value) and math.isnan(want_value))
    np.testing.assert_allclose(gradient, want_gradient, rtol=1e-12, atol=1e-12 * scale)


def test_the_value_alone_of_a_wide_graph_is_vectorised_too():
    fn = sg.compile(rosenbrock(X), wrt=X)
    assert "v[" in fn.forward_source and fn.forward(POINT) == fn(POINT)[0]


def test_the_value_alone_falls_back_to_straight_line_code_on_inf():
    fn = sg.compile(sg.log(X).sum(), wrt=X)
    point = np.ones(1000)
    point[5] = 0.0
    with pytest.raises(sg.EvaluationError, match=r"log\(x\[5\]\)"):
        fn.forward(point)
