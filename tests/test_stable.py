"""The stable ops and the rewrites that make them: losses written the textbook way stay finite and
accurate, measured against mpmath; gradients keep relative precision in the tails."""

import math
import random

import mpmath
import pytest

import symgrad as sg

x, y, z, t = sg.symbols("x y z t")
mpmath.mp.dps = 60


def _agrees(got, want):
    """``got`` is ``want`` (an mpmath number) to 1e-12 relative, or, where ``want`` is below the
    normal floats (2.2e-308), to the absolute spacing subnormals have: relative precision does
    not exist there in float64."""
    gap = abs(mpmath.mpf(got) - want)
    return gap <= 1e-12 * abs(want) or gap <= 2.0**-1060


def _rewritten(e):
    (out,), _ = sg.simplify([e])
    return out


# ---- each rewrite, and what it changes --------------------------------------------------------


@pytest.mark.parametrize("written, becomes", [
    (sg.log(sg.sigmoid(x)), sg.log_sigmoid(x)),
    (sg.log(1 - sg.sigmoid(x)), sg.log_sigmoid(-x)),
    (sg.log(1 + x), sg.log1p(x)),
    (sg.log(x + 1), sg.log1p(x)),
    (sg.log(1 - x), sg.log1p(-x)),
    (sg.exp(x) - 1, sg.expm1(x)),
    (sg.log(sg.exp(x)), x),
    (sg.log(1 + sg.exp(x)), sg.softplus(x)),
    (sg.log(sg.exp(x) + sg.exp(y)), sg.logaddexp(x, y)),
    (sg.log(sg.exp(x) + sg.exp(y) + sg.exp(z)), sg.logsumexp(x, y, z)),
    (sg.sqrt(x * x), abs(x)),
    (sg.sqrt(x**2), abs(x)),
    (x - sg.logsumexp(x, y, z), -sg.logsumexp(0.0, y - x, z - x)),
], ids=lambda e: repr(e))
def test_a_stabilising_rewrite_replaces_what_is_written(written, becomes):
    assert _rewritten(written) is _rewritten(becomes)


@pytest.mark.parametrize("written, point, want", [
    (sg.log(1 + x), 1e-20, 1e-20),  # 1 + 1e-20 is 1.0: log gives 0
    (sg.exp(x) - 1, 1e-20, 1e-20),  # exp(1e-20) is 1.0: the difference is 0
    (sg.log(sg.exp(x)), 1000.0, 1000.0),  # exp(1000) overflows
    (sg.sqrt(x * x), -1e200, 1e200),  # x*x overflows
    (sg.log(sg.exp(x) + sg.exp(2 * x)), 1000.0, 2000.0),  # exp(2000) overflows
    (sg.log(sg.sigmoid(x)), -800.0, -800.0),  # sigmoid(-800) is 0.0: log raises
    (sg.log(1 - sg.sigmoid(x)), 40.0, -40.0),  # sigmoid(40) is 1.0: log raises
])
def test_a_rewritten_expression_is_accurate_where_the_written_one_fails(written, point, want):
    assert sg.compile(written, wrt=[x])(point)[0] == pytest.approx(want, rel=1e-15, abs=0.0)


def test_a_rewrite_applies_inside_a_larger_expression_and_to_its_derivative():
    fn = sg.compile(t * sg.log(sg.sigmoid(2 * x)), wrt=[x], args=[x, t])
    compiled = {node.op.name for node in sg.topological_order([fn.value_expr, *fn.grad_exprs])}
    assert "log_sigmoid" in compiled and not compiled & {"log", "div"}
    value, (gradient,) = fn(-400.0, 1.0)
    assert (value, gradient) == (-800.0, 2.0)


# ---- binary and softmax cross-entropy, written the textbook way ----------------------------------

BCE = -(t * sg.log(sg.sigmoid(z)) + (1 - t) * sg.log(1 - sg.sigmoid(z)))
BCE_POINTS = [-800.0, -745.0, -709.0, -100.0, -37.0, -20.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 15.0, 36.5, 40.0,
              100.0, 700.0, 745.0, 800.0] + [random.Random(7).uniform(-800, 800) for _ in range(40)]


def _bce_reference(zv, tv):
    # log(sigmoid(z)) = -log(1 + exp(-z)), log(1 - sigmoid(z)) = -log(1 + exp(z)): no cancellation
    # for mpmath to need more digits than it has.
    zv = mpmath.mpf(zv)
    s, s_of_minus_z = 1 / (1 + mpmath.exp(-zv)), 1 / (1 + mpmath.exp(zv))
    value = tv * mpmath.log1p(mpmath.exp(-zv)) + (1 - tv) * mpmath.log1p(mpmath.exp(zv))
    return value, (1 - tv) * s - tv * s_of_minus_z


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_binary_cross_entropy_is_finite_and_accurate_from_minus_800_to_800(label):
    fn = sg.compile(BCE, wrt=[z], args=[z, t])
    for zv in BCE_POINTS:
        value, (gradient,) = fn(zv, label)
        want_value, want_gradient = _bce_reference(zv, label)
        assert _agrees(value, want_value) and _agrees(gradient, want_gradient), (zv, value, gradient)


def test_binary_cross_entropy_with_a_soft_label_is_accurate_away_from_its_minimum():
    # At sigmoid(z) = t the gradient crosses 0, as a difference of two terms: relative precision
    # there is out of reach of any formula of the two; 0.1 away it holds.
    fn = sg.compile(BCE, wrt=[z], args=[z, t])
    for zv in BCE_POINTS:
        if abs(1 / (1 + math.exp(-max(min(zv, 700), -700))) - 0.3) > 0.1:
            value, (gradient,) = fn(zv, 0.3)
            want_value, want_gradient = _bce_reference(zv, 0.3)
            assert _agrees(value, want_value) and _agrees(gradient, want_gradient), (zv, value, gradient)


LOGITS = sg.symbols("l0:10")


def _softmax_cross_entropy(k):
    return -(LOGITS[k] - sg.log(sum(sg.exp(logit) for logit in LOGITS)))


def _softmax_reference(logits, k):
    logits = [mpmath.mpf(v) for v in logits]
    lse = mpmath.log(sum(mpmath.exp(v) for v in logits))
    return lse - logits[k], [mpmath.exp(v - lse) - (i == k) for i, v in enumerate(logits)]


def _softmax_cases():
    rng = random.Random(11)
    yield [rng.uniform(-1000, 1000) for _ in range(10)], 3
    yield [rng.uniform(-1000, 1000) for _ in range(10)], 0
    yield [1000.0] + [-1000.0] * 9, 0  # the right class far ahead: the loss is ~1e-869
    yield [960.0, 1000.0] + [999.5 - 3 * i for i in range(8)], 1  # ahead by little: the loss is small
    yield [-1000.0] * 10, 4  # all equal: log(10)
    yield [rng.uniform(990, 1000) for _ in range(10)], 7  # close together, near the top of the range
    yield [rng.uniform(-1000, -990) for _ in range(10)], 9


@pytest.mark.parametrize("logits, k", list(_softmax_cases()))
def test_softmax_cross_entropy_of_ten_classes_is_accurate_with_logits_up_to_1000(logits, k):
    value, gradient = sg.compile(_softmax_cross_entropy(k), wrt=list(LOGITS))(*logits)
    want_value, want_gradient = _softmax_reference(logits, k)
    assert _agrees(value, want_value), (value, want_value)
    for got, want in zip(gradient, want_gradient):
        assert _agrees(got, want), (got, want)


def test_logsumexp_never_overflows_and_matches_its_definition():
    fn = sg.compile(sg.logsumexp(x, y, z, 0.5), wrt=[x, y, z])
    for point in [(1000.0, 999.0, -5.0), (-1000.0, -1001.0, -2000.0), (0.1, 0.2, 0.3)]:
        value, gradient = fn(*point)
        terms = [mpmath.mpf(v) for v in (*point, 0.5)]
        lse = mpmath.log(sum(mpmath.exp(v) for v in terms))
        assert _agrees(value, lse) and all(_agrees(g, mpmath.exp(v - lse)) for g, v in zip(gradient, terms))


# ---- the slopes of tanh and sigmoid in their tails ---------------------------------------------

TAILS = [0.0, 1e-8, 0.5, 1.0, 5.0, 10.0, 15.0, 20.0, 37.0, 50.0, 100.0, 300.0, 354.0]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_slope_of_tanh_keeps_relative_precision_in_its_tails(sign):
    fn = sg.compile(sg.tanh(x), wrt=[x])
    for point in TAILS:
        want = 1 / mpmath.cosh(mpmath.mpf(sign * point)) ** 2
        assert _agrees(fn(sign * point)[1][0], want), point


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_slope_of_sigmoid_keeps_relative_precision_in_its_tails(sign):
    fn = sg.compile(sg.sigmoid(x), wrt=[x])
    for point in [*TAILS, 700.0]:
        e = mpmath.exp(-abs(mpmath.mpf(point)))
        assert _agrees(fn(sign * point)[1][0], e / (1 + e) ** 2), point


# ---- the conventions of the piecewise ops --------------------------------------------------------


def test_maximum_and_minimum_send_the_gradient_of_a_tie_to_their_second_argument():
    assert sg.compile(sg.maximum(x, y), wrt=[x, y])(2.0, 2.0) == (2.0, (0.0, 1.0))
    assert sg.compile(sg.minimum(x, y), wrt=[x, y])(2.0, 2.0) == (2.0, (0.0, 1.0))


def test_maximum_with_zero_has_the_value_and_slope_of_relu_everywhere():
    ours, theirs = sg.compile(sg.maximum(x, 0.0), wrt=[x]), sg.compile(sg.relu(x), wrt=[x])
    assert all(ours(p) == theirs(p) for p in (-1.0, 0.0, 1e-300, 2.0))


def test_clip_sends_the_gradient_to_x_at_a_bound_and_to_the_bound_beyond_it():
    fn = sg.compile(sg.clip(x, y, z), wrt=[x, y, z])
    assert fn(0.0, 0.0, 1.0) == (0.0, (1.0, 0.0, 0.0))
    assert fn(-3.0, 0.0, 1.0) == (0.0, (0.0, 1.0, 0.0))
    assert fn(3.0, 0.0, 1.0) == (1.0, (0.0, 0.0, 1.0))
    assert fn(0.5, 2.0, 1.0) == (1.0, (0.0, 0.0, 1.0))  # low > high: high, as NumPy's clip


@pytest.mark.parametrize("op, point, want", [
    (sg.floor, -2.5, -3.0), (sg.ceil, -2.5, -2.0), (sg.round, 2.5, 2.0), (sg.round, 3.5, 4.0),
    (sg.floor, math.inf, math.inf), (sg.round, -math.inf, -math.inf),
])
def test_rounding_gives_a_float_with_derivative_zero(op, point, want):
    value, (gradient,) = sg.compile(op(x) * 3.0, wrt=[x])(point)
    assert (value, gradient) == (want * 3.0, 0.0) and type(value) is float


def test_where_takes_a_branch_by_a_comparison_and_sends_the_gradient_there_only():
    fn = sg.compile(sg.where(x > y, x * y, x + 2 * y), wrt=[x, y])
    assert fn(3.0, 2.0) == (6.0, (2.0, 3.0))
    assert fn(1.0, 2.0) == (5.0, (1.0, 2.0))
    assert fn(2.0, 2.0) == (6.0, (1.0, 2.0))  # x > y is false at a tie


def test_a_comparison_compiles_to_its_value_with_derivative_zero():
    assert sg.compile((x >= y) * 5.0, wrt=[x, y])(1.0, 1.0) == (5.0, (0.0, 0.0))


def test_where_guarding_the_argument_of_a_log_is_finite_on_both_sides_in_both_backends():
    import numpy as np

    positive = x > 0
    f = sg.where(positive, sg.log(sg.where(positive, x, 1.0)), 0.0)  # the branch not taken may be computed
    assert sg.compile(f, wrt=[x])(-1.0) == (0.0, (0.0,))
    with np.errstate(all="raise"):
        values, (grads,) = sg.compile(f, wrt=[x], backend="numpy")(np.array([-1.0, 0.0, 2.0]))
    assert list(values) == [0.0, 0.0, math.log(2.0)] and list(grads) == [0.0, 0.0, 0.5]


def test_the_array_backend_gives_the_scalar_values_of_the_new_ops():
    import numpy as np

    f = sg.where(x > 0.2, sg.softplus(x), sg.log_sigmoid(y)) + sg.erf(x) * sg.hypot(x, y) + sg.clip(x, -0.5, y) \
        + sg.atan2(y, x) + sg.logsumexp(x, y, 1.0) + sg.round(3 * x)
    points = [(0.3, 0.7), (-0.4, 1.9), (1.5, -0.2)]
    values, grads = sg.compile(f, wrt=[x, y], backend="numpy")(np.array([p[0] for p in points]),
                                                              np.array([p[1] for p in points]))
    scalar = sg.compile(f, wrt=[x, y])
    for k, point in enumerate(points):
        value, gradient = scalar(*point)
        assert values[k] == pytest.approx(value, rel=1e-14)
        assert (grads[0][k], grads[1][k]) == pytest.approx(gradient, rel=1e-14)


def test_value_has_the_unary_functions_as_methods_as_micrograd_users_write_them():
    from symgrad.engine import Value

    a = Value(0.3)
    out = a.softplus() + a.log_sigmoid() + a.log1p() + a.expm1() + a.tan() + a.atan() + a.asin() + a.acos() \
        + a.sinh() + a.cosh() + a.erf()
    out.backward()
    value, (gradient,) = sg.compile(
        sg.softplus(x) + sg.log_sigmoid(x) + sg.log1p(x) + sg.expm1(x) + sg.tan(x) + sg.atan(x) + sg.asin(x)
        + sg.acos(x) + sg.sinh(x) + sg.cosh(x) + sg.erf(x), wrt=[x])(0.3)
    assert (out.data, a.grad) == pytest.approx((value, gradient), rel=1e-15)


def test_the_parser_reads_the_new_functions_and_one_comparison():
    from symgrad.parse import parse

    assert parse("where(x > 0, log1p(x), logsumexp(x, y, 1))") is sg.where(x > 0, sg.log1p(x), sg.logsumexp(x, y, 1))
    assert parse("atan2(y, x) + clip(x, 0, 1)") is sg.atan2(y, x) + sg.clip(x, 0, 1)
