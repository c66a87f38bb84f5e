"""Arrays of parameters: vector and matrix symbols, compiled functions that take and return arrays."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.expr import rebuild_graph, serialise_graph
from tests.oracles import table_branches
from tests.test_properties import EXPONENTS, SETTINGS

X = sg.vector("x", 3)


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def rosenbrock_gradient(p):
    g = np.zeros_like(p)
    g[:-1] += -400 * p[:-1] * (p[1:] - p[:-1] ** 2) - 2 * (1 - p[:-1])
    g[1:] += 200 * (p[1:] - p[:-1] ** 2)
    return g


# ---- arrays of symbols ----


def test_vector_elements_are_symbols_named_with_their_index():
    assert X.dtype == object and X.shape == (3,)
    assert [e.name for e in X] == ["x[0]", "x[1]", "x[2]"]
    assert X[1] is sg.symbol("x[1]")


def test_matrix_elements_are_named_with_both_indices():
    w = sg.matrix("W", 2, 3)
    assert w.shape == (2, 3) and repr(w[1, 0]) == "W[1, 0]"


def test_symbols_with_a_shape_give_an_array_per_name():
    a, b = sg.symbols("a b", shape=(2, 2))
    assert a.shape == b.shape == (2, 2) and b[0, 1].name == "b[0, 1]"


@pytest.mark.parametrize("names, want", [
    ("x0:3", ["x0", "x1", "x2"]), ("x:2", ["x0", "x1"]), ("a:c", ["a", "b", "c"]), ("y1:3, z", ["y1", "y2", "z"]),
])
def test_symbols_read_ranges_as_sympy_does(names, want):
    assert [s.name for s in sg.symbols(names)] == want


@pytest.mark.parametrize("names, message", [("x3:1", "empty"), ("x:y:z", "not a range")])
def test_a_bad_range_is_refused_naming_it(names, message):
    with pytest.raises(ValueError, match=message):
        sg.symbols(names)


@pytest.mark.parametrize("shape", [0, (2, 0), -1, "3", (2.0,)])
def test_a_shape_that_is_not_positive_ints_is_refused(shape):
    with pytest.raises(ValueError, match="shape"):
        sg.symbols("w", shape=shape)


def test_functions_apply_element_wise_to_arrays():
    assert list(sg.tanh(X)) == [sg.tanh(e) for e in X]
    assert sg.exp(sg.matrix("W", 2, 2)).shape == (2, 2)


def test_numpy_operators_build_the_graph_of_each_element():
    w, b, u = sg.matrix("W", 2, 2), sg.vector("b", 2), sg.vector("u", 2)
    h = w @ u + b
    assert h[1] is w[1, 0] * u[0] + w[1, 1] * u[1] + b[1]
    assert (2 * X)[0] is 2 * X[0] and (X[0] * X)[2] is X[0] * X[2] and (X**2)[1] is X[1] ** 2


# ---- compiled functions with array parameters ----


def test_the_gradient_of_one_array_is_the_array_itself():
    _value, g = sg.compile(rosenbrock(X), wrt=X)(np.array([0.5, -1.0, 2.0]))
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (3,)
    np.testing.assert_allclose(g, rosenbrock_gradient(np.array([0.5, -1.0, 2.0])), rtol=1e-14)


def test_a_list_of_wrt_arrays_gives_a_tuple_of_arrays():
    _value, (g,) = sg.compile(rosenbrock(X), wrt=[X])(np.array([0.5, -1.0, 2.0]))
    assert g.shape == (3,)


def test_an_array_parameter_takes_any_sequence_of_numbers():
    fn = sg.compile(rosenbrock(X), wrt=X)
    want = fn(np.array([1.0, 2.0, 3.0]))
    for given_as in ([1, 2, 3], (1.0, 2.0, 3.0), np.array([1, 2, 3]), np.array([1, 2, 3], dtype=np.float32)):
        assert fn(given_as)[0] == want[0]
        np.testing.assert_array_equal(fn(given_as)[1], want[1])


def test_an_array_argument_is_one_parameter_named_after_it_unpacked_to_identifiers():
    w = sg.matrix("W", 2, 2)
    fn = sg.compile((w @ X[:2]).sum() * X[2], wrt=[w, X])
    assert fn.arg_names == ("W", "x") and fn.wrt_names == ("W", "x")
    assert "W_0_0, W_0_1, W_1_0, W_1_1 = W.ravel().tolist() if" in fn.source


def test_other_arrays_of_the_expression_become_one_argument_each():
    u = sg.vector("u", 2)
    fn = sg.compile((X[:2] * u).sum(), wrt=[X[0], X[1]])
    assert fn.arg_names == ("x_0", "x_1", "u")
    value, grads = fn(2.0, 3.0, [10.0, 100.0])
    assert value == 320.0 and grads == (10.0, 100.0)


def test_a_wrt_name_may_name_an_array():
    fn = sg.compile(rosenbrock(X), wrt="x")
    assert fn.arg_names == ("x",) and fn([1.0, 1.0, 1.0])[1].shape == (3,)


def test_part_of_an_array_in_wrt_needs_the_whole_array_in_args():
    with pytest.raises(ValueError, match="part of an array"):
        sg.compile(rosenbrock(X), wrt=[X[0]])
    fn = sg.compile(rosenbrock(X), wrt=[X[0]], args=[X])
    assert fn([1.0, 1.0, 1.0]) == (0.0, (0.0,))


def test_an_element_the_expression_does_not_use_has_gradient_zero():
    fn = sg.compile(X[0] * X[2], wrt=X)
    np.testing.assert_array_equal(fn([2.0, 5.0, 3.0])[1], [3.0, 0.0, 2.0])


def test_an_array_of_outputs_gives_values_and_jacobian_blocks_of_out_shape_plus_param_shape():
    w, b, u = sg.matrix("W", 3, 2), sg.vector("b", 3), sg.vector("u", 2)
    fn = sg.compile(sg.tanh(w @ u + b), wrt=[w, b])
    wv, bv, uv = np.arange(6.0).reshape(3, 2) / 10, np.array([0.1, -0.2, 0.3]), np.array([0.5, -1.5])
    values, (jw, jb) = fn(wv, bv, uv)
    h = np.tanh(wv @ uv + bv)
    np.testing.assert_allclose(values, h, rtol=1e-15)
    assert jw.shape == (3, 3, 2) and jb.shape == (3, 3)
    np.testing.assert_allclose(jb, np.diag(1 - h**2), rtol=1e-15)
    np.testing.assert_allclose(jw, np.einsum("ij,k->ijk", np.diag(1 - h**2), uv), rtol=1e-15)


def test_a_list_of_arrays_as_outputs_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match=r"numpy\.stack"):
        sg.compile([X * 2, X * 3], wrt=X)


def test_the_hessian_of_one_array_is_a_2d_array():
    point = np.array([-1.2, 1.0, 0.5])
    _value, _g, h = sg.compile(rosenbrock(X), wrt=X, order=2)(point)
    a, b, c = sg.symbols("a b c")
    want = sg.compile(rosenbrock([a, b, c]), wrt=[a, b, c], order=2)(*point)[2]
    assert isinstance(h, np.ndarray) and h.shape == (3, 3)
    np.testing.assert_array_equal(h, np.array(want))


def test_the_hessian_of_several_parameters_comes_in_blocks():
    y = sg.symbol("y")
    _, _, ((hxx, hxy), (hyx, hyy)) = sg.compile((X**2).sum() * y**2, wrt=[X, y], order=2)([1.0, 2.0, 3.0], 2.0)
    np.testing.assert_array_equal(hxx, 8.0 * np.eye(3))
    np.testing.assert_array_equal(hxy, [8.0, 16.0, 24.0])
    np.testing.assert_array_equal(hyx, hxy)
    assert hyy == 28.0


def test_the_hvp_of_one_array_takes_and_returns_arrays():
    point, vector = np.array([-1.2, 1.0, 0.5]), np.array([1.0, -2.0, 0.5])
    hessian = sg.compile(rosenbrock(X), wrt=X, order=2)(point)[2]
    product = sg.compile_hvp(rosenbrock(X), X)(point, vector)
    assert isinstance(product, np.ndarray)
    np.testing.assert_allclose(product, hessian @ vector, rtol=1e-13)


def test_forward_of_an_array_of_outputs_is_an_array():
    np.testing.assert_array_equal(sg.compile(X * 2.0, wrt=X).forward([1.0, 2.0, 3.0]), [2.0, 4.0, 6.0])


def test_a_function_of_scalars_never_unpacks_arrays():
    a, b = sg.symbols("a b")
    source = sg.compile(a * b + sg.exp(a), wrt=[a, b], order=2).source
    assert "_elements" not in source and "_packed" not in source


def test_compiling_the_same_arrays_again_is_a_cache_hit_and_wrt_x_differs_from_wrt_list():
    f = rosenbrock(X)
    assert sg.compile(f, wrt=X) is sg.compile(f, wrt=sg.vector("x", 3))
    assert sg.compile(f, wrt=[X]) is not sg.compile(f, wrt=X)


def test_a_function_of_arrays_pickles_and_loads_back():
    fn = sg.compile(sg.tanh(sg.matrix("W", 2, 2) @ X[:2]), wrt=[sg.matrix("W", 2, 2)], args=[sg.matrix("W", 2, 2), X])
    back = sg.loads(pickle.dumps(fn))
    args = (np.eye(2), [0.5, -0.5, 9.0])
    assert back.source == fn.source and back.arg_names == ("W", "x")
    np.testing.assert_array_equal(back(*args)[1][0], fn(*args)[1][0])


# ---- bad input names the parameter ----


@pytest.mark.parametrize("given_as, error, message", [
    ([1.0, 2.0], ValueError, r"argument 'x' must have shape \(3,\), got shape \(2,\)"),
    (np.ones((3, 1)), ValueError, r"shape \(3,\), got shape \(3, 1\)"),
    ([1.0, [2.0, 3.0], 4.0], TypeError, "argument 'x' must be an array of real numbers"),
    (["1", "2", "3"], TypeError, "argument 'x' must be an array of real numbers"),
    ([True, False, True], TypeError, "argument 'x'.*bool"),
    (3.0, ValueError, r"argument 'x' must have shape \(3,\), got shape \(\)"),
])
def test_a_bad_array_argument_is_refused_naming_the_parameter(given_as, error, message):
    with pytest.raises(error, match=message):
        sg.compile(rosenbrock(X), wrt=X)(given_as)


def test_nan_in_an_array_argument_propagates_as_for_scalars():
    value, g = sg.compile(rosenbrock(X), wrt=X)([math.nan, 1.0, 1.0])
    assert math.isnan(value) and math.isnan(g[0])


def test_an_error_inside_a_function_of_arrays_names_the_element():
    with pytest.raises(sg.EvaluationError, match=r"log failed.*\n  in the subexpression log\(x\[1\]\)"):
        sg.compile(sg.log(X).sum(), wrt=X)([1.0, 0.0, 1.0])


# ---- the same function, written with separate symbols: bit for bit ----

_SCALARS = sg.symbols("a0:3")
_leaves = st.one_of(st.sampled_from(list(X)), st.floats(-3, 3, allow_nan=False).map(sg.const))


def _with_scalars(f):
    """``f`` with x[i] renamed a_i: the same graph over separate symbols."""
    records, roots = serialise_graph([f])
    renamed = [("symbol", f"a{r[1][2]}", r[2]) if r[0] == "symbol" else r for r in records]
    return rebuild_graph(renamed, roots)[0]


@SETTINGS
@given(st.recursive(_leaves, lambda children: st.one_of(*table_branches(children, EXPONENTS)), max_leaves=8),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_a_function_of_a_vector_equals_the_same_function_of_separate_symbols_bit_for_bit(f, point):
    def outcome(fn, *args):
        try:
            value, grads = fn(*args)
        except (sg.EvaluationError, ArithmeticError, ValueError) as error:
            return type(error).__name__
        return [repr(float(v)) for v in (value, *grads)]

    by_vector = outcome(sg.compile(f, wrt=X), np.array(point))
    by_scalars = outcome(sg.compile(_with_scalars(f), wrt=list(_SCALARS)), *point)
    assert by_vector == by_scalars, f


# ---- verify, drawings ----


def test_verify_checks_each_element_and_names_its_row():
    report = sg.verify(sg.tanh(X[0] * X[1]) + X[2] ** 2, wrt=X)
    assert report.ok
    assert "d/dx[0]" in str(report) and "d/dx[2]" in str(report)


def test_a_drawing_labels_elements_by_their_index():
    assert "x[1]" in sg.draw((X * X).sum()).source


# ---- SciPy ----

scipy_optimize = pytest.importorskip("scipy.optimize")
X100 = sg.vector("x", 100)


@pytest.mark.parametrize("method", ["L-BFGS-B", "trust-exact", "Newton-CG"])
def test_scipy_minimize_solves_extended_rosenbrock_with_the_compiled_function_as_it_is(method):
    f = rosenbrock(X100)
    objective = sg.compile(f, wrt=X100)
    second = {"trust-exact": {"hess": lambda p: sg.compile(f, wrt=X100, order=2)(p)[2]},
              "Newton-CG": {"hessp": sg.compile_hvp(f, X100)}}.get(method, {})
    options = {"L-BFGS-B": {"gtol": 1e-10, "ftol": 0.0, "maxiter": 10_000}, "trust-exact": {"gtol": 1e-8},
               "Newton-CG": {"xtol": 1e-14, "maxiter": 10_000}}[method]
    result = scipy_optimize.minimize(objective, np.full(100, -1.2), jac=True, method=method, options=options,
                                     **second)
    assert np.abs(objective(result.x)[1]).max() < 1e-6
    np.testing.assert_allclose(result.x, np.ones(100), atol=1e-5)


# ---- @sg.jit ----


def test_jit_traces_an_array_argument_as_an_array_of_its_shape():
    @sg.jit
    def loss(p):
        return (p[0] - 1) ** 2 + (p[1] - p[0] ** 2) ** 2

    value, g = loss.value_and_grad(np.array([0.5, 0.5]))
    assert value == 0.3125 and g.shape == (2,)
    np.testing.assert_allclose(g, [-1.5, 0.5])
    assert loss.hessian([0.5, 0.5]).shape == (2, 2)


def test_jit_honours_defaults_and_keywords():
    @sg.jit
    def loss(p, scale=2.0, *, shift=0.0):
        return scale * (p[0] - 1) ** 2 + shift

    assert loss([0.0, 0.0]) == 2.0
    assert loss([0.0, 0.0], 3.0) == 3.0
    assert loss(p=[0.0, 0.0], shift=1.0) == 3.0


def test_jit_refuses_a_keyword_only_argument_given_by_position_as_python_does():
    @sg.jit
    def loss(x, *, s=2.0):
        return s * x * x

    with pytest.raises(TypeError):
        loss.value_and_grad(1.0, 3.0)
    with pytest.raises(TypeError):
        loss.value_and_grad([1.0], 3.0)
    assert loss.value_and_grad(1.0, s=3.0) == (3.0, (6.0,))


def test_jit_takes_a_float_default_at_run_time_without_tracing_again():
    @sg.jit
    def loss(p, scale=2.0):
        return scale * p[0] ** 2

    assert loss.compiled_for([1.0], 2.0) is loss.compiled_for([1.0], 5.0)
    assert loss.value_and_grad([1.0], 5.0)[1].tolist() == [10.0]


def test_jit_traces_a_non_float_default_as_a_constant_of_its_own_trace():
    @sg.jit
    def loss(p, power=2):
        return p[0] ** power

    assert loss([3.0]) == 9.0 and loss([3.0], power=3) == 27.0
    assert loss.compiled_for([1.0]) is not loss.compiled_for([1.0], power=3)


def test_jit_traces_again_for_another_shape():
    @sg.jit
    def total(p):
        return (p * p).sum()

    assert total([1.0, 2.0]) == 5.0 and total([1.0, 2.0, 3.0]) == 14.0


def test_jit_refuses_a_string_input_naming_it():
    @sg.jit
    def loss(w):
        return w * 2

    with pytest.raises(TypeError, match="argument 'w' must be a real number or an array"):
        loss("1.0")
