"""Every primitive's derivative against sympy.diff, and the conventions at kinks."""

import itertools
import math

import pytest
import sympy

import symgrad as sg
from symgrad import ops
from symgrad.expr import make
from tests.cases import ARGUMENT_DOMAINS, unary_cases, wider_cases
from tests.oracles import zero_across_jumps

x, y = sg.symbols("x y")

# Points per domain, with some close to the domain's edge.
POINTS = {
    "real": [-2.5, -1.0, -0.3, -1e-7, 1e-7, 0.2, 1.3, 3.0],
    "positive": [1e-6, 1e-3, 0.01, 0.5, 1.0, 7.5],
    "unit": [-0.999, -0.6, -1e-7, 1e-7, 0.3, 0.95],
}


def _reference_derivative(f, var, point):
    sym_f = sg.to_sympy(f)
    sym_var = sg.to_sympy(var)
    subs = {sg.to_sympy(s): v for s, v in point.items()}
    return complex(zero_across_jumps(sympy.diff(sym_f, sym_var)).evalf(30, subs=subs))


def _assert_close(got, want):
    assert want.imag == 0
    assert math.isclose(got, want.real, rel_tol=1e-9, abs_tol=1e-12), (got, want)


@pytest.mark.parametrize("f, domain", list(unary_cases(x)))
def test_unary_derivative_matches_sympy(f, domain):
    fn = sg.compile(f, wrt=[x])
    for point in POINTS[domain]:
        _, (got,) = fn(point)
        _assert_close(got, _reference_derivative(f, x, {x: point}))


@pytest.mark.parametrize("op", wider_cases())
def test_derivatives_of_ops_of_several_arguments_match_sympy(op):
    symbols = sg.symbols("x y z")[:op.arity]
    f = op(*symbols)
    fn = sg.compile(f, wrt=symbols)
    grids = [POINTS[domain][::3] for domain in ARGUMENT_DOMAINS(op)]
    for point in itertools.product(*grids):
        if len(set(point)) < len(point):
            continue  # a tie: maximum's and clip's conventions there are tested on their own
        _, gradient = fn(*point)
        at = dict(zip(symbols, point))
        for got, s in zip(gradient, symbols):
            _assert_close(got, _reference_derivative(f, s, at))


def test_every_op_in_the_table_is_covered_by_these_tests():
    covered = {"symbol", "const", "powi", "powc"} | {case.values[0].name for case in wider_cases()}
    covered |= {op.name for op in ops.all_ops() if op.arity == 1}
    assert covered == {op.name for op in ops.all_ops()}


def test_every_op_has_a_label_a_sympy_mapping_and_a_rule():
    for op in ops.all_ops():
        if op.arity:
            assert op.printer is not None and op.sympy is not None and op.vjp is not None, op.name
            assert isinstance(op.label(2), str)


@pytest.mark.parametrize("f, want", [(sg.relu(x), 0.0), (abs(x), 0.0)])
def test_derivative_at_the_kink_is_zero(f, want):
    _, (g,) = sg.compile(f, wrt=[x])(0.0)
    assert g == want


def test_relu_value_and_slope_either_side_of_zero():
    fn = sg.compile(sg.relu(x), wrt=[x])
    assert fn(-1e-300) == (0.0, (0.0,))
    assert fn(2.0) == (2.0, (1.0,))


def test_power_with_expression_exponent_has_zero_exponent_slope_at_zero_base():
    _, (gx, gy) = sg.compile(x**y, wrt=[x, y])(0.0, 2.0)
    assert (gx, gy) == (0.0, 0.0)


def test_power_with_negative_base_and_fractional_exponent_is_an_error_not_a_complex():
    with pytest.raises(sg.EvaluationError, match="pow"):
        sg.compile(x**0.5 + x**1.5, wrt=[x])(-8.0)


def test_sigmoid_never_overflows():
    fn = sg.compile(sg.sigmoid(x), wrt=[x])
    assert fn(-1000.0) == (0.0, (0.0,))
    assert fn(1000.0) == (1.0, (0.0,))


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "log_sigmoid"])
def test_a_stable_op_written_inline_gives_its_helpers_values_bit_for_bit(name):
    from symgrad import numerics

    fn, helper = sg.compile(getattr(sg, name)(x), wrt=[]), getattr(numerics, name)
    assert f"{name}(" not in fn.source.split("\n", 2)[2]  # below the header comment
    points = [0.0, 5e-324, 1e-300, 0.3, 20.0, 36.9, 37.5, 709.0, 710.0, 745.0, 746.0, 800.0, 1e300,
              math.inf, math.nan, *(v * 10.0**k for k in range(-8, 3) for v in (1.7, 3.1))]
    for value in [*points, *(-p for p in points)]:
        got, want = fn(value)[0], helper(value)
        assert got == want or (math.isnan(got) and math.isnan(want)), value
        assert math.isnan(got) or math.copysign(1.0, got) == math.copysign(1.0, want), value  # signed zeros


def test_logaddexp_written_inline_gives_the_helpers_values_bit_for_bit():
    from symgrad.numerics import logaddexp

    fn = sg.compile(sg.logaddexp(x, y), wrt=[])
    assert "logaddexp(" not in fn.source.split("\n", 2)[2]  # below the header comment
    points = [0.0, -0.0, 5e-324, 0.3, 1.0, 36.0, 700.0, 710.0, 1e300, math.inf, math.nan]
    for a, b in itertools.product([*points, *(-p for p in points)], repeat=2):
        got, want = fn(a, b)[0], logaddexp(a, b)
        assert got == want or (math.isnan(got) and math.isnan(want)), (a, b)


def test_small_integer_powers_are_printed_as_products():
    assert "x * x * x" in sg.compile(x**3, wrt=[x]).source


def test_square_root_power_is_printed_as_sqrt():
    assert "sqrt(x)" in sg.compile(x**0.5, wrt=[x]).forward_source


def test_inverse_power_is_printed_as_a_division():
    assert "1.0 / x" in sg.compile(x**-1, wrt=[x]).forward_source


def test_registering_a_second_op_with_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        ops._register(ops.Op("exp", 1, label=str, printer=None, sympy=None, vjp=None, impl=None))


def test_powi_zero_rule_keeps_value_one_at_zero():
    assert sg.compile(make(ops.int_power, (x,), 0) + x, wrt=[x])(0.0) == (1.0, (1.0,))


def test_an_op_shows_what_its_table_entry_says_of_it():
    documented = [op for op in ops.all_ops() if op.doc]
    assert documented and all(repr(op).endswith(f"{op.name}: {op.doc}>") for op in documented)
