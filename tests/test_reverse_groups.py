"""The vectorised reverse pass written a group at a time: the gradient agrees with the straight-line
code's, and the scalar backward graph is made only when something asks for it."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from tests.test_properties import SETTINGS
from tests.test_vectorise import POINT, X, _bodies, _instance, rosenbrock


def _outcome(fn, *args):
    try:
        return fn(*args)
    except (sg.EvaluationError, ArithmeticError, ValueError) as error:
        return type(error).__name__


def _assert_agrees(got, want):
    """Equal errors, or values and gradients (a tuple of entries) equal to rounding, nan as nan."""
    if isinstance(want, str):
        assert got == want
        return
    (value, gradient), (want_value, want_gradient) = got, want
    flat, want_flat = (np.concatenate([np.ravel(g) for g in grads]) for grads in (gradient, want_gradient))
    scale = 1 + abs(want_value) + float(np.nanmax(np.abs(want_flat), initial=0.0))
    assert abs(value - want_value) <= 1e-12 * scale or (math.isnan(value) and math.isnan(want_value))
    np.testing.assert_allclose(flat, want_flat, rtol=1e-12, atol=1e-12 * scale)


def test_the_reverse_pass_is_written_per_group_and_no_scalar_backward_graph_is_derived():
    fn = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised", cache=False)
    assert "reverse pass written per group" in fn.stats.strategy
    assert fn.stats.backward_nodes_before is None and "none derived" in str(fn.stats)
    assert "a[0:999] += a[" in fn.source and "# d/d(x[0]) of x[0]**2 ... ×999" in fn.source


def test_the_scalar_backward_graph_is_derived_when_its_expressions_are_asked_for():
    fn = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised", cache=False)
    straight = sg.compile(rosenbrock(X), wrt=X, strategy="straight", cache=False)
    assert fn.grad_exprs == straight.grad_exprs
    assert fn.stats.backward_nodes_after == straight.stats.backward_nodes_after
    assert "differentiate (on demand)" in fn.stats.seconds


def test_a_function_with_a_per_group_reverse_pass_pickles_and_loads_back():
    fn = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised", cache=False)
    back = sg.loads(pickle.dumps(fn))
    assert back.source == fn.source
    np.testing.assert_array_equal(back(POINT)[1], fn(POINT)[1])


def test_a_function_with_a_per_group_reverse_pass_is_restored_from_the_disk_cache(tmp_path):
    first = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised", cache_dir=tmp_path)
    sg.clear_cache()
    again = sg.compile(rosenbrock(X), wrt=X, strategy="vectorised", cache_dir=tmp_path)
    assert again.stats.origin and again.source == first.source
    np.testing.assert_array_equal(again(POINT)[1], first(POINT)[1])
    assert again.grad_exprs == first.grad_exprs


def test_verify_checks_a_function_whose_reverse_pass_was_written_per_group():
    xs = sg.vector("x", 150)
    f = rosenbrock(xs)
    assert "per group" in sg.compile(f, wrt=xs.tolist(), cache=False).stats.strategy
    assert sg.verify(f, wrt=xs.tolist()[:3], points=2, symbolic=False).ok


def test_a_repeated_gather_adds_every_occurrence_and_a_shared_symbol_its_sum():
    x, s = sg.vector("x", 1000), sg.symbol("s")
    picks = np.random.default_rng(1).integers(0, 1000, 3000)  # indices repeat
    f = sum(sg.sin(x[int(i)]) * s for i in picks)
    fn = sg.compile(f, wrt=[x, s], strategy="vectorised", cache=False)
    assert "_add_at(a, " in fn.source and "_sum(" in fn.source
    point = np.linspace(-1.0, 1.0, 1000)
    _assert_agrees(fn(point, 0.7), sg.compile(f, wrt=[x, s], strategy="straight", cache=False)(point, 0.7))


def test_a_domain_error_in_a_per_group_function_names_the_element():
    fn = sg.compile(sg.sqrt(X).sum(), wrt=X, strategy="vectorised", cache=False)
    point = np.ones(1000)
    point[613] = -1.0
    with pytest.raises(sg.EvaluationError, match=r"sqrt failed .*\n  in the subexpression sqrt\(x\[613\]\)"):
        fn(point)


# ---- random wide graphs: loop bodies over gathered elements (repeats), a shared symbol, signed sums ----

@settings(SETTINGS, max_examples=40)
@given(_bodies, _bodies, st.lists(st.integers(0, 19), min_size=40, max_size=40), st.integers(0, 2**31))
def test_a_random_wide_graph_with_gathers_and_signed_sums_computes_what_straight_line_code_computes(
        body, other, picks, seed):
    x, s = sg.vector("x", 20), sg.symbol("s")
    f = sg.const(0.0)
    for k in range(0, 40, 2):
        term = _instance(body, x[picks[k]], s) - _instance(other, x[picks[k + 1]], x[k % 20]) + 0.5 * s
        f = f - term if k % 4 else f + term
    point = np.random.default_rng(seed).uniform(-2, 2, 20)
    fn = sg.compile(f, wrt=[x, s], strategy="vectorised", cache=False)
    assert "reverse pass written per group" in fn.stats.strategy
    _assert_agrees(_outcome(fn, point, 0.3),
                   _outcome(sg.compile(f, wrt=[x, s], strategy="straight", cache=False), point, 0.3))


def test_auto_writes_the_reverse_pass_of_a_wide_graph_per_group():
    assert "reverse pass written per group" in sg.compile(rosenbrock(X), wrt=X, cache=False).stats.strategy


def test_a_pullback_through_an_op_without_an_array_form_keeps_the_scalar_derived_graph():
    square = sg.primitive("square_without_array_form", impl=lambda x: x * x, derivative=lambda x: 2 * x,
                          replace=True)
    cube = sg.primitive("cube_whose_derivative_has_none", impl=lambda x: x ** 3, derivative=lambda x: 3 * square(x),
                        array_impl=lambda x: x ** 3, replace=True)
    fn = sg.compile(sum(cube(X[i]) for i in range(1000)), wrt=X, cache=False)
    assert "no array form" in fn.stats.strategy and fn.stats.backward_nodes_after > 0
    np.testing.assert_allclose(fn(POINT)[1], 3 * POINT ** 2, rtol=1e-15)
