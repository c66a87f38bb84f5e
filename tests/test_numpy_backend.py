"""backend="numpy": the same graph as array code, with batches, broadcasting and reductions."""

import math
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg
from tests.batches import assert_same

w, b, x, t = sg.symbols("w b x t")
LOSS = (sg.tanh(w * x + b) - t) ** 2
RNG = np.random.default_rng(0)
XS, TS = RNG.normal(size=1000), RNG.normal(size=1000)


def _per_sample_scalar(expr, wrt, point, **batch):
    fn = sg.compile(expr, wrt=wrt)
    rows = [fn(*point, **{k: float(v[i]) for k, v in batch.items()}) for i in range(len(next(iter(batch.values()))))]
    return np.array([v for v, _ in rows]), np.array([g for _, g in rows])


def test_the_issue_example_matches_the_scalar_backend_averaged():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    value, (gw, gb) = fn(0.3, -0.1, x=XS, t=TS)
    values, grads = _per_sample_scalar(LOSS, [w, b], (0.3, -0.1), x=XS, t=TS)
    assert value == pytest.approx(values.mean(), rel=1e-12)
    assert (gw, gb) == pytest.approx(tuple(grads.mean(axis=0)), rel=1e-12)


def test_sum_reduction_sums_values_and_gradients():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    value, grads = fn(0.3, -0.1, x=XS, t=TS)
    values, per_sample = _per_sample_scalar(LOSS, [w, b], (0.3, -0.1), x=XS, t=TS)
    assert value == pytest.approx(values.sum(), rel=1e-12) and grads == pytest.approx(tuple(per_sample.sum(axis=0)))


def test_no_reduction_gives_per_sample_values_and_gradients():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"])
    value, (gw, gb) = fn(0.3, -0.1, x=XS, t=TS)
    values, grads = _per_sample_scalar(LOSS, [w, b], (0.3, -0.1), x=XS, t=TS)
    assert value.shape == gw.shape == gb.shape == (1000,)
    np.testing.assert_allclose(value, values, rtol=1e-12)
    np.testing.assert_allclose(np.stack([gw, gb], axis=1), grads, rtol=1e-12, atol=1e-15)


def test_a_gradient_constant_across_the_batch_is_broadcast_then_reduced():
    fn = sg.compile(w * x + b, wrt=[w, b], backend="numpy", batch=["x"], reduce="sum")
    value, (gw, gb) = fn(2.0, 1.0, x=np.arange(5.0))
    assert (value, gw, gb) == (25.0, 10.0, 5.0)
    per_sample = sg.compile(w * x + b, wrt=[w, b], backend="numpy", batch=["x"])
    assert per_sample(2.0, 1.0, x=np.arange(5.0))[1][1].tolist() == [1.0] * 5


def test_gradient_with_respect_to_a_batch_input_is_per_sample_and_scaled_by_the_mean():
    fn = sg.compile(w * x**2, wrt=[x], backend="numpy", batch=["x"], reduce="mean")
    _, (gx,) = fn(x=np.array([1.0, 2.0]), w=3.0)
    assert gx.tolist() == [3.0, 6.0]  # d/dx_i of mean(w x_i²) = 2 w x_i / 2


def test_a_parameter_array_broadcast_across_the_batch_gets_a_gradient_of_its_own_shape():
    fn = sg.compile((w * x - t) ** 2, wrt=[w], backend="numpy", batch=["x", "t"], reduce="sum")
    ws = np.array([[1.0], [2.0]])  # two candidate weights, each against the whole batch
    _, (gw,) = fn(ws, x=np.array([1.0, 2.0, 3.0]), t=np.zeros(3))
    assert gw.shape == (2, 1)
    np.testing.assert_allclose(gw[:, 0], [2 * 14.0, 2 * 2 * 14.0])


def test_scalars_and_python_numbers_are_accepted_as_inputs():
    fn = sg.compile(w * x, wrt=[w], backend="numpy")
    value, (gw,) = fn(2, x=3.0)
    assert float(value) == 6.0 and float(gw) == 3.0


def test_forward_applies_the_same_reduction():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    assert fn.forward(0.3, -0.1, x=XS, t=TS) == pytest.approx(fn(0.3, -0.1, x=XS, t=TS)[0], rel=1e-15)


def test_aux_outputs_are_per_sample_even_when_the_value_is_reduced():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean", aux=[w * x + b])
    _, _, (scores,) = fn(0.3, -0.1, x=XS, t=TS)
    np.testing.assert_allclose(scores, 0.3 * XS - 0.1)


def test_domain_errors_follow_ieee_in_array_code():
    fn = sg.compile(sg.log(x), wrt=[x], backend="numpy")
    with np.errstate(all="ignore"):
        value, (gx,) = fn(np.array([-1.0, 0.0, 1.0]))
    assert math.isnan(value[0]) and value[1] == -math.inf and value[2] == 0.0
    assert gx[1] == math.inf


def test_relu_step_abs_sign_and_sigmoid_match_the_scalar_backend():
    f = sg.relu(x) + abs(x) * 0.5 + sg.sigmoid(3 * x) - sg.relu(-x) * x
    points = np.array([-800.0, -2.0, -0.0, 0.0, 1e-300, 0.5, 800.0])
    array_fn = sg.compile(f, wrt=[x], backend="numpy")
    scalar_fn = sg.compile(f, wrt=[x])
    values, (grads,) = array_fn(points)
    for i, p in enumerate(points):
        want_value, (want_grad,) = scalar_fn(float(p))
        assert values[i] == pytest.approx(want_value, rel=1e-15, abs=1e-300)
        assert grads[i] == pytest.approx(want_grad, rel=1e-15, abs=1e-300)


def test_sigmoid_keeps_its_relative_precision_far_below_zero():
    points = np.array([-40.0, -700.0, -708.0])
    values, (grads,) = sg.compile(sg.sigmoid(x), wrt=[x], backend="numpy")(points)
    want = [math.exp(p) / (1.0 + math.exp(p)) for p in points]
    assert values == pytest.approx(want, rel=1e-14)
    assert grads == pytest.approx(want, rel=1e-14)


def test_sigmoid_of_any_float_raises_no_floating_point_error():
    with np.errstate(all="raise"):
        values, _ = sg.compile(sg.sigmoid(x), wrt=[x], backend="numpy")(np.array([-1e308, -800.0, 800.0]))
    assert values[2] == 1.0 and 0.0 <= values[0] < 1e-307


def _array_and_scalar(expr, points, xp=np):
    """``expr``'s value and derivative in x at each point: from array code (in namespace
    ``xp``) and from the scalar backend, whose errors are left out (None)."""
    with np.errstate(all="ignore"):
        values, (grads,) = sg.compile(expr, wrt=[x], backend="numpy", batch=["x"])(xp.asarray(points))
    scalar = sg.compile(expr, wrt=[x], backend="python")
    wanted = []
    for p in points:
        try:
            value, (grad,) = scalar(p)
        except sg.EvaluationError:
            value = grad = None
        wanted.append((value, grad))
    if hasattr(values, "compute"):  # dask: lazy until now
        values, grads = values.compute(), grads.compute()
    return np.asarray(values), np.asarray(grads), wanted


def _assert_within_an_ulp(got, want, where):
    """Equal, or one unit in the last place apart (a subnormal's unit for a subnormal)."""
    same = got == want or (math.isnan(got) and math.isnan(want))
    assert same or abs(got - want) <= np.spacing(abs(want)), (where, got, want)


def _assert_as_scalar_code(expr, points, xp=np):
    values, grads, wanted = _array_and_scalar(expr, points, xp)
    for p, value, grad, (want_value, want_grad) in zip(points, values, grads, wanted):
        assert want_value is not None, f"the scalar code raises at x = {p}: pick points where it does not"
        _assert_within_an_ulp(float(value), want_value, f"value at x = {p}")
        _assert_within_an_ulp(float(grad), want_grad, f"gradient at x = {p}")


SIGMOID_TAIL = [-700.0, -708.5, -720.0, -740.0, -745.0, -746.0, -1000.0, -1e308]


def test_array_sigmoid_keeps_subnormal_tail_like_scalar_code():
    _assert_as_scalar_code(sg.sigmoid(x), SIGMOID_TAIL)


def test_array_log_sigmoid_follows_scalar_code_below_the_normal_range():
    _assert_as_scalar_code(sg.log(sg.sigmoid(x)), [-300.0, -700.0, -720.0, -740.0, -745.0])


def test_array_sigmoid_ratio_keeps_its_magnitude_where_scalar_code_has_one():
    # At x = -360 the denominator sigmoid(-720) is subnormal: the ratio is as precise as its last bit.
    values, grads, wanted = _array_and_scalar(sg.sigmoid(x) / sg.sigmoid(2 * x), [-300.0, -360.0])
    for value, grad, (want_value, want_grad) in zip(values, grads, wanted):
        assert value == pytest.approx(want_value, rel=1e-10)
        assert grad == want_grad or (math.isnan(grad) and math.isnan(want_grad))  # -inf, nan: 0 * inf


def test_array_sigmoid_matches_scalar_code_at_zero_signed_zero_large_x_infinities_and_nan():
    _assert_as_scalar_code(sg.sigmoid(x), [0.0, -0.0, 1e-300, -1e-300, 36.0, 40.0, 709.0, 800.0, 1e308,
                                           math.inf, -math.inf, math.nan])


@pytest.mark.parametrize("module", ["array_api_strict", "dask.array"])
def test_array_sigmoid_tail_is_the_same_in_every_array_namespace(module):
    xp = pytest.importorskip(module)
    _assert_as_scalar_code(sg.sigmoid(x), [*SIGMOID_TAIL, 0.0, 800.0, -math.inf], xp)


def test_the_source_calls_only_the_array_namespace():
    source = sg.compile(sg.exp(x) * sg.sin(w), wrt=[x, w], backend="numpy").source
    assert "xp.exp(x)" in source and "xp.sin(w)" in source and "math" not in source


def test_a_symbol_named_xp_is_renamed():
    xp_symbol = sg.symbol("xp")
    fn = sg.compile(xp_symbol * 2.0, wrt=[xp_symbol], backend="numpy")
    assert fn.arg_names == ("xp_2",) and float(fn(3.0)[0]) == 6.0


def test_options_of_the_numpy_backend_are_checked():
    with pytest.raises(ValueError, match="backend must be"):
        sg.compile(x, wrt=[x], backend="jax")
    with pytest.raises(ValueError, match="reduce must be"):
        sg.compile(x, wrt=[x], backend="numpy", reduce="max")
    with pytest.raises(ValueError, match="options of backend='numpy'"):
        sg.compile(x, wrt=[x], reduce="mean")
    with pytest.raises(ValueError, match="batch\\[0\\]: 'z' is not an argument"):
        sg.compile(x, wrt=[x], backend="numpy", batch=["z"])


def test_shapes_that_do_not_broadcast_are_an_error_naming_them():
    fn = sg.compile(x * t, wrt=[x], backend="numpy", batch=["x", "t"])
    with pytest.raises(ValueError, match=r"\(3,\), \(4,\)"):
        fn(np.zeros(3), np.zeros(4))


def test_a_primitive_without_array_impl_is_refused_by_the_numpy_backend():
    erf = sg.primitive("my_erf", impl=math.erf, derivative=lambda a: 2 / math.sqrt(math.pi) * sg.exp(-a * a))
    with pytest.raises(ValueError, match="array_impl"):
        sg.compile(erf(x), wrt=[x], backend="numpy")


def test_a_primitive_with_array_impl_runs_in_array_code():
    softplus = sg.primitive("smoothrelu", impl=lambda a: math.log1p(math.exp(a)), derivative=lambda a: sg.sigmoid(a),
                            array_impl=lambda a: np.logaddexp(0.0, a))
    value, (gx,) = sg.compile(softplus(x), wrt=[x], backend="numpy")(np.array([0.0, 1.0]))
    np.testing.assert_allclose(value, np.log1p(np.exp([0.0, 1.0])))
    np.testing.assert_allclose(gx, 1 / (1 + np.exp(-np.array([0.0, 1.0]))))


@pytest.mark.parametrize("n", [40, 1000], ids=["small batch: factors as rows", "larger batch: dot products"])
def test_array_api_strict_arrays_give_array_api_strict_results(n):
    xps = pytest.importorskip("array_api_strict")
    fn = sg.compile(LOSS + sg.relu(x) + sg.sqrt(abs(t) + 1.0), wrt=[w, b], backend="numpy", batch=["x", "t"],
                    reduce="mean")
    value, (gw, _) = fn(0.3, -0.1, x=xps.asarray(XS[:n]), t=xps.asarray(TS[:n]))
    assert type(value).__module__.startswith("array_api_strict")
    want = sg.compile(LOSS + sg.relu(x) + sg.sqrt(abs(t) + 1.0), wrt=[w, b], backend="numpy", batch=["x", "t"],
                      reduce="mean")(0.3, -0.1, x=XS[:n], t=TS[:n])
    assert float(value) == pytest.approx(float(want[0]), rel=1e-13)
    assert float(gw) == pytest.approx(float(want[1][0]), rel=1e-13)


def test_torch_tensors_give_torch_results():
    torch = pytest.importorskip("torch")
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    value, _ = fn(0.3, -0.1, x=torch.tensor(XS), t=torch.tensor(TS))
    assert isinstance(value, torch.Tensor)
    assert float(value) == pytest.approx(float(fn(0.3, -0.1, x=XS, t=TS)[0]), rel=1e-13)


def test_a_compiled_array_function_pickles_and_runs_in_another_process(tmp_path):
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(fn))
    code = (f"import pickle, numpy as np; fn = pickle.load(open(r'{path}', 'rb')); "
            "print(repr(float(fn(0.3, -0.1, x=np.arange(4.0), t=np.ones(4))[0])))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(float(fn(0.3, -0.1, x=np.arange(4.0), t=np.ones(4))[0]), rel=1e-15)


# ---- property: the array code computes what the scalar code computes, element by element ----

X, Y = sg.symbols("x y")
UNARY = [sg.exp, sg.log, sg.sqrt, sg.sin, sg.cos, sg.tanh, sg.sigmoid, sg.relu, abs, lambda e: -e]
BINARY = [lambda a, c: a + c, lambda a, c: a - c, lambda a, c: a * c, lambda a, c: a / c, lambda a, c: a ** c]
leaves = st.one_of(st.sampled_from([X, Y]), st.floats(-3, 3, allow_nan=False).map(sg.const))
expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda p: p[0](p[1])),
        st.tuples(children, st.sampled_from([2, 3, -1, 0.5, 1.5])).map(lambda p: p[0] ** p[1]),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda p: p[0](p[1], p[2])),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_array_code_equals_scalar_code_element_wise(f):
    points = np.random.default_rng(1).uniform(-2, 2, size=(2, 40))
    scalar_fn = sg.compile(f, wrt=[X, Y])
    try:
        with np.errstate(all="ignore"):
            values, grads = sg.compile(f, wrt=[X, Y], backend="numpy", batch=["x", "y"])(*points)
    except sg.EvaluationError:  # a constant part that cannot be evaluated (1.0 / 0.0): so does the scalar code
        with pytest.raises(sg.EvaluationError):
            scalar_fn(*points[:, 0])
        return
    for i in range(points.shape[1]):
        try:
            want_value, want_grads = scalar_fn(*points[:, i])
        except (sg.EvaluationError, ArithmeticError, ValueError):
            continue  # the scalar backend raises where array code gives nan/inf
        for got, want in [(values[i], want_value), *((g[i], w) for g, w in zip(grads, want_grads))]:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12) or (math.isnan(got) and math.isnan(want)), \
                (f, points[:, i], got, want)


def test_an_error_inside_array_code_names_the_failing_subexpression():
    fn = sg.compile(sg.exp(x * t) + sg.sin(x), wrt=[x], backend="numpy", batch=["x"])
    with pytest.raises(sg.EvaluationError, match=r"mul failed .*\n  in the subexpression t \* x\n.*xp\.exp\(t \* x\)"):
        fn(np.zeros(3), np.zeros(4))


def test_an_error_after_an_in_place_update_names_the_failing_subexpression():
    exp_x, sin_x = sg.exp(x), sg.sin(x)
    updated = sg.cos(exp_x + sin_x) * exp_x * sin_x  # written as `t0 *= ...` twice
    fn = sg.compile(sg.tanh(updated * t) + updated * updated, wrt=[t], backend="numpy", batch=["x"])
    assert " *= " in fn.source
    with pytest.raises(sg.EvaluationError, match=r"mul failed .*\n  in the subexpression .*cos\(.*\) \* t\n"):
        fn(np.zeros(4), np.zeros(3))


# ---- in-place updates of dead temporaries ----

_MANY_TEMPORARIES = (w * sg.tanh(w * x + b) + sg.exp(-(b * x * x)) + sg.sin(x) * w + sg.abs(x) * 0.01 - t) ** 2


def test_array_code_updates_dead_temporaries_in_place():
    fn = sg.compile(_MANY_TEMPORARIES, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    assert any(op in fn.source for op in (" += ", " -= ", " *= ", " /= "))
    value, grads = fn(0.3, -0.1, x=XS, t=TS)
    want_values, want_grads = _per_sample_scalar(_MANY_TEMPORARIES, [w, b], (0.3, -0.1), x=XS, t=TS)
    np.testing.assert_allclose(value, want_values.mean(), rtol=1e-12)
    np.testing.assert_allclose(grads, want_grads.mean(axis=0), rtol=1e-12)


def test_in_place_updates_leave_the_inputs_untouched():
    xs, ts = XS.copy(), TS.copy()
    params = np.array([[0.3], [0.5]]), np.array([-0.1, 0.2, 0.4])[:, None, None]
    sg.compile(_MANY_TEMPORARIES, wrt=[w, b], backend="numpy", batch=["x", "t"])(*params, x=xs, t=ts)
    np.testing.assert_array_equal(xs, XS)
    np.testing.assert_array_equal(ts, TS)


def test_in_place_updates_keep_every_broadcast_shape():
    w_column, b_cube = np.array([[0.3], [0.5]]), np.array([-0.1, 0.2, 0.4])[:, None, None]
    _, (gw, gb) = sg.compile(_MANY_TEMPORARIES, wrt=[w, b], backend="numpy", batch=["x", "t"],
                             reduce="sum")(w_column, b_cube, x=XS[:5], t=TS[:5])
    assert gw.shape == (2, 1) and gb.shape == (3, 1, 1)
    scalar = sg.compile(_MANY_TEMPORARIES, wrt=[w, b])
    want = sum(scalar(float(wv), float(bv), t=float(tv), x=float(xv))[1][0]
               for wv in w_column[:, 0] for bv in b_cube[:, 0, 0] for xv, tv in zip(XS[:5], TS[:5]))
    np.testing.assert_allclose(gw.sum(), want, rtol=1e-12)


def test_a_registered_primitive_turns_in_place_updates_off():
    # Its array_impl may hand back its input: updating that in place would overwrite the caller's array.
    passthrough = sg.primitive("passthrough", impl=lambda a: a, derivative=lambda a: sg.const(1.0),
                               array_impl=lambda a: a)
    q = passthrough(x)
    f = sg.exp(q) * sg.exp(q) + sg.sin((q + 1.0) * (q + 1.0)) + t  # q's last use, q + 1.0, has a line
    fn = sg.compile(f, wrt=[t], backend="numpy", batch=["x", "t"])
    xs = XS.copy()
    fn.forward(x=xs, t=TS)
    np.testing.assert_array_equal(xs, XS)


# ---- a reduced gradient: entries passed as factors, summed over the batch by _finish ----

HINGE = sg.relu(1.0 - t * (w * x + b))  # negates the score's adjoint: every entry is -g


def test_negated_entries_are_computed_without_the_sign_and_negated_after_the_sum():
    fn = sg.compile(HINGE, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    assert "negated=(0, 1)" in fn.source and "-" not in fn.source.split("# gradient")[1].split("return")[0]
    value, grads = fn(0.3, -0.1, x=XS, t=np.sign(TS))
    values, per_sample = _per_sample_scalar(HINGE, [w, b], (0.3, -0.1), x=XS, t=np.sign(TS))
    assert value == pytest.approx(values.mean(), rel=1e-12)
    assert grads == pytest.approx(tuple(per_sample.mean(axis=0)), rel=1e-12)


def test_weight_gradients_are_passed_as_their_factors_not_computed_per_sample():
    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    assert re.search(r"\(g\d+, x\), \(w, b\), \(\), products=\(\(0, 1\), \(0, -1\)\)\)", fn.source)
    per_sample = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"])
    assert "d_w = d_b * x" in per_sample.source  # without a reduction the entries are computed


def test_an_entry_whose_product_another_entry_reads_is_passed_whole():
    # d_b = t * tanh' is a product, but d_w = d_b * x reads it: it is computed, not split
    f = sg.tanh(w * x + b) * t
    fn = sg.compile(f, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    assert re.search(r"(g\d+) = g\d+ \* t\n.*\(\1, x\), \(w, b\), \(\), products=\(\(0, 1\), \(0, -1\)\)",
                     fn.source, re.S)
    _, grads = fn(0.3, -0.1, x=XS[:50], t=TS[:50])
    _, per_sample = _per_sample_scalar(f, [w, b], (0.3, -0.1), x=XS[:50], t=TS[:50])
    assert grads == pytest.approx(tuple(per_sample.sum(axis=0)), rel=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("f", [x * sg.exp(w), x * sg.exp(-w)], ids=["d/dw is the value", "d/dw is its negation"])
def test_a_gradient_entry_that_is_the_value_itself_is_reduced_like_scalar_code(f, reduce):
    value, grads = sg.compile(f, wrt=[w], backend="numpy", batch=["x"], reduce=reduce)(0.3, x=XS[:50])
    values, per_sample = _per_sample_scalar(f, [w], (0.3,), x=XS[:50])
    reduced = np.sum if reduce == "sum" else np.mean
    assert value == pytest.approx(reduced(values), rel=1e-12)
    assert grads == pytest.approx(tuple(reduced(per_sample, axis=0)), rel=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_gradient_entry_that_is_an_aux_output_is_reduced_like_scalar_code(reduce):
    f, aux = sg.exp(w) * x + b, x * sg.exp(w)  # d/dw f is the aux output
    value, grads, (scores,) = sg.compile(f, wrt=[w, b], backend="numpy", batch=["x"], reduce=reduce,
                                         aux=[aux])(0.3, -0.1, x=XS[:50])
    scalar = sg.compile(f, wrt=[w, b], aux=[aux])
    rows = [scalar(0.3, -0.1, x=float(v)) for v in XS[:50]]
    reduced = np.sum if reduce == "sum" else np.mean
    assert value == pytest.approx(reduced([r[0] for r in rows]), rel=1e-12)
    assert grads == pytest.approx(tuple(reduced([r[1] for r in rows], axis=0)), rel=1e-12)
    np.testing.assert_allclose(scores, [r[2][0] for r in rows], rtol=1e-15)


@pytest.mark.parametrize("n", [40, 5000], ids=["small batch: factors as rows", "larger batch: dot products"])
def test_a_reduced_gradient_of_a_model_equals_its_per_sample_gradients_summed(n):
    x0, x1, y = sg.symbols("x0 x1 y")
    first = [sg.symbols(f"u{k}_0 u{k}_1 c{k}") for k in range(4)]  # a 2-4-1 MLP, hinge loss
    second = sg.symbols("v0 v1 v2 v3 d")
    hidden = [sg.relu(u0 * x0 + u1 * x1 + c) for u0, u1, c in first]
    score = sum((v * h for v, h in zip(second, hidden)), second[-1])
    loss = sg.relu(1.0 - y * score)
    symbols = [s for unit in first for s in unit] + list(second)
    params = np.random.default_rng(1).uniform(-1, 1, size=len(symbols)).tolist()
    data = np.random.default_rng(2).normal(size=(3, n))
    per_sample = sg.compile(loss, wrt=symbols, backend="numpy", batch=[x0, x1, y])
    reduced = sg.compile(loss, wrt=symbols, backend="numpy", batch=[x0, x1, y], reduce="mean")
    assert "products=" in reduced.source and "negated=" in reduced.source
    values, grads = per_sample(*params, *data)
    value, means = reduced(*params, *data)
    assert value == pytest.approx(values.mean(), rel=1e-12)
    assert means == pytest.approx([g.mean() for g in np.broadcast_arrays(*grads, values)[:-1]], rel=1e-10, abs=1e-15)


A, B = sg.symbols("a b")


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(
    st.one_of(st.sampled_from([X, Y, A, B]), st.floats(-3, 3, allow_nan=False).map(sg.const)),
    lambda children: st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda p: p[0](p[1])),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda p: p[0](p[1], p[2])),
    ),
    max_leaves=8,
))
def test_a_reduced_gradient_equals_the_per_sample_gradients_summed(f):
    points = np.random.default_rng(3).uniform(-2, 2, size=(2, 30))
    with np.errstate(all="ignore"):
        try:
            values, grads = sg.compile(f, wrt=[A, B], args=[A, B, X, Y], backend="numpy",
                                       batch=["x", "y"])(0.7, -0.4, *points)
        except sg.EvaluationError:  # a constant part that cannot be evaluated
            return
        value, sums = sg.compile(f, wrt=[A, B], args=[A, B, X, Y], backend="numpy", batch=["x", "y"],
                                 reduce="sum")(0.7, -0.4, *points)
    per_sample = np.broadcast_arrays(values, *grads, np.empty(30))[:-1]
    if not all(np.isfinite(p).all() for p in per_sample):
        return  # inf - inf in a sum: the order of summation decides between inf and nan
    for got, want in zip([value, *sums], per_sample):
        assert got == pytest.approx(want.sum(), rel=1e-9, abs=1e-9 * np.abs(want).sum() + 1e-12), f


# ---- large NumPy batches run in blocks, on threads ----

_BLOCKED = (w * sg.tanh(w * x + b) - t) ** 2 + sg.log(1.0 + x * x) * b


@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_a_large_batch_in_blocks_equals_the_whole_batch_at_once(blocks_of_100, threads, reduce, whole_batch):
    fn = sg.compile(_BLOCKED, wrt=[w, b, x], backend="numpy", batch=["x", "t"], reduce=reduce, aux=[w * x])
    got = fn(0.3, -0.1, XS, t=TS)
    assert blocks_of_100 == [[(start, start + 100) for start in range(0, 1000, 100)]]
    assert_same(got, whole_batch(fn, 0.3, -0.1, XS, t=TS))


def test_forward_runs_in_blocks_too(blocks_of_100, threads, whole_batch):
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    value = fn.forward(0.3, -0.1, x=XS, t=TS)
    assert len(blocks_of_100) == 1
    assert_same(value, whole_batch(fn.forward, 0.3, -0.1, x=XS, t=TS))


def test_a_two_dimensional_batch_runs_in_blocks_of_whole_rows(blocks_of_100, threads, whole_batch):
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    xs, ts = XS.reshape(40, 25), TS.reshape(40, 25)  # 4 rows of 25 make a block of 100
    got = fn(0.3, -0.1, x=xs, t=ts[:1])  # t's single row is broadcast along the rows
    assert blocks_of_100 == [[(start, start + 4) for start in range(0, 40, 4)]]
    assert_same(got, whole_batch(fn, 0.3, -0.1, x=xs, t=ts[:1]))


def test_blocks_are_evenly_sized(blocks_of_100, threads, whole_batch):
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    got = fn(0.3, -0.1, x=XS[:950], t=TS[:950])
    assert blocks_of_100 == [[(start, start + 95) for start in range(0, 950, 95)]]
    assert_same(got, whole_batch(fn, 0.3, -0.1, x=XS[:950], t=TS[:950]))


def test_results_do_not_depend_on_the_thread_count(blocks_of_100):
    fn = sg.compile(_BLOCKED, wrt=[w, b, x], backend="numpy", batch=["x", "t"], reduce="mean")
    results = []
    for count in (1, 2, 3):
        previous = sg.set_threads(count)
        try:
            value, grads = fn(0.3, -0.1, XS[:950], t=TS[:950])
        finally:
            sg.set_threads(previous)
        results.append((float(value), *(np.asarray(g).tobytes() for g in grads)))
    assert results[0] == results[1] == results[2]


def test_a_parameter_array_wider_than_the_batch_is_computed_whole(blocks_of_100):
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    ws = np.array([[0.3], [0.5]])  # (2, 1) against a (1000,) batch: the result is (2, 1000)
    _, (gw, _) = fn(ws, -0.1, x=XS, t=TS)
    assert blocks_of_100 == [] and gw.shape == (2, 1)


def test_arrays_of_other_namespaces_are_computed_whole(blocks_of_100):
    array_api_strict = pytest.importorskip("array_api_strict")
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    fn(0.3, -0.1, x=array_api_strict.asarray(XS), t=array_api_strict.asarray(TS))
    assert blocks_of_100 == []


def test_numpy_errstate_holds_inside_the_worker_threads(blocks_of_100):
    previous = sg.set_threads(2)
    try:
        fn = sg.compile(sg.log(x), wrt=[x], backend="numpy", batch=["x"], reduce="sum")
        with np.errstate(invalid="raise"), pytest.raises(sg.EvaluationError, match="invalid value"):
            fn(np.where(np.arange(1000) == 950, -1.0, 1.0))
    finally:
        sg.set_threads(previous)


def test_set_threads_refuses_what_is_not_a_positive_count():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a positive integer or None"):
            sg.set_threads(bad)


def test_a_forked_child_computes_blocks_on_threads_of_its_own(blocks_of_100):
    # The parent's pool threads do not survive fork(); a child reusing the pool would hang.
    import multiprocessing

    previous = sg.set_threads(2)
    try:
        fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
        want = fn(0.3, -0.1, x=XS, t=TS)[0]
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=lambda: queue.put(float(fn(0.3, -0.1, x=XS, t=TS)[0])))
        child.start()
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
        assert child.exitcode == 0, "the child hung or failed"
        assert queue.get(timeout=5) == pytest.approx(float(want), rel=1e-15)
    finally:
        sg.set_threads(previous)


class _RecordingLibc:
    def __init__(self, calls):
        self.calls = calls

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


@pytest.fixture
def mallopt_calls(monkeypatch):
    """The mallopt calls symgrad makes, recorded instead of made; as in a fresh process."""
    import ctypes
    import platform

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: _RecordingLibc(calls))
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(sg.arrays, "_allocator_tuned", False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return calls


_LARGE = RNG.normal(size=20_000)  # 160 KB: an array glibc would map afresh
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def test_a_large_numpy_batch_lets_malloc_keep_freed_memory(mallopt_calls):
    sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")(0.3, -0.1, x=_LARGE, t=_LARGE)
    settings = dict(mallopt_calls)
    assert settings.keys() == {M_MMAP_THRESHOLD, M_TRIM_THRESHOLD}
    # A block's arrays come from the heap, not fresh maps, and freeing one does not hand the heap back.
    assert settings[M_MMAP_THRESHOLD] > max(_LARGE.nbytes, sg.arrays.BLOCK_ELEMENTS * _LARGE.itemsize)
    assert settings[M_TRIM_THRESHOLD] > settings[M_MMAP_THRESHOLD]


def test_malloc_is_tuned_once_per_process(mallopt_calls):
    fn = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
    fn(0.3, -0.1, x=_LARGE, t=_LARGE)
    fn(0.3, -0.1, x=_LARGE, t=_LARGE)
    assert sorted(parameter for parameter, _ in mallopt_calls) == sorted([M_MMAP_THRESHOLD, M_TRIM_THRESHOLD])


def test_a_small_batch_leaves_malloc_alone(mallopt_calls):
    sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")(0.3, -0.1, x=XS, t=TS)
    assert mallopt_calls == []


def test_malloc_settings_of_the_user_are_left_alone(mallopt_calls, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")(0.3, -0.1, x=_LARGE, t=_LARGE)
    assert mallopt_calls == []


def test_set_malloc_tuning_false_leaves_malloc_alone(mallopt_calls, monkeypatch):
    asked = []
    keep_freed_memory = sg.arrays._keep_freed_memory

    def recorded():
        asked.append(True)
        keep_freed_memory()

    monkeypatch.setattr(sg.arrays, "_keep_freed_memory", recorded)
    previous = sg.set_malloc_tuning(False)
    try:
        assert previous is True
        blocked = sg.compile(_BLOCKED, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="mean")
        blocked(0.3, -0.1, x=_LARGE, t=_LARGE)
        assert asked and mallopt_calls == []  # asked for, and refused: no mallopt call
    finally:
        assert sg.set_malloc_tuning(previous) is False
    # Turned back on, the next large batch tunes malloc as before.
    blocked(0.3, -0.1, x=_LARGE, t=_LARGE)
    assert sorted(parameter for parameter, _ in mallopt_calls) == sorted([M_MMAP_THRESHOLD, M_TRIM_THRESHOLD])
    with pytest.raises(TypeError, match="True or False"):
        sg.set_malloc_tuning(0)
