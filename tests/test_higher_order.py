"""Hessians, Jacobians, Hessian-vector products and several outputs, against SymPy."""

import itertools
import math
import pickle
import random

import pytest
import sympy

import symgrad as sg
from tests.cases import ARGUMENT_DOMAINS, unary_cases, wider_cases
from tests.oracles import zero_across_jumps

x, y, z = sg.symbols("x y z")
ROSENBROCK = (1 - x) ** 2 + 100 * (y - x**2) ** 2

POINTS = {"real": [-2.5, -0.3, 0.2, 1.3], "positive": [1e-3, 0.5, 1.0, 7.5], "unit": [-0.9, -0.3, 0.2, 0.8]}


def _sympy_hessian(f, wrt, point):
    syms = sg.to_sympy(list(wrt))
    subs = {sg.to_sympy(s): v for s, v in point.items()}
    matrix = sympy.hessian(sg.to_sympy(f), syms)
    return [[complex(zero_across_jumps(matrix[i, j]).evalf(30, subs=subs)) for j in range(len(wrt))]
            for i in range(len(wrt))]


def _assert_matrix_close(got, want):
    for got_row, want_row in zip(got, want):
        for g, w in zip(got_row, want_row):
            assert w.imag == 0
            assert math.isclose(g, w.real, rel_tol=1e-9, abs_tol=1e-9), (got, want)


@pytest.mark.parametrize("f, domain", list(unary_cases(x)))
def test_second_derivative_and_hvp_of_every_unary_primitive_match_sympy(f, domain):
    fn = sg.compile(f, wrt=[x], order=2)
    hvp = sg.compile_hvp(f, [x])
    for point in POINTS[domain]:
        _, _, hessian = fn(point)
        want = _sympy_hessian(f, [x], {x: point})
        _assert_matrix_close(hessian, want)
        _assert_matrix_close([hvp((point,), (3.0,))], [[want[0][0] * 3.0]])


@pytest.mark.parametrize("op", [case for case in wider_cases() if case.values[0].arity == 2])
def test_hessian_hvp_and_jacobian_of_every_binary_primitive_match_sympy(op):
    domain_x, domain_y = ARGUMENT_DOMAINS(op)
    f = op(x, y)
    fn = sg.compile(f, wrt=[x, y], order=2)
    hvp = sg.compile_hvp(f, [x, y])
    jacobian = sg.compile([f, op(x * y, y)], wrt=[x, y])
    sym_x, sym_y = sg.to_sympy([x, y])
    want_jacobian = sympy.Matrix(sg.to_sympy([f, op(x * y, y)])).jacobian([sym_x, sym_y])
    for px in POINTS[domain_x]:
        for py in POINTS[domain_y]:
            if px == py or px * py == py:
                continue  # a tie of maximum's arguments (of x*y and y too), where SymPy's Heaviside is 1/2
            want = _sympy_hessian(f, [x, y], {x: px, y: py})
            _assert_matrix_close(fn(px, py)[2], want)
            _assert_matrix_close([hvp((px, py), (0.5, -2.0))], [[w[0] * 0.5 - w[1] * 2.0 for w in want]])
            if domain_x == "real" or px * py > 0:  # x*y stays in the first argument's domain
                subs = {sym_x: px, sym_y: py}
                _assert_matrix_close(jacobian(px, py)[1], [[complex(zero_across_jumps(want_jacobian[i, j])
                                                                    .evalf(30, subs=subs)) for j in range(2)]
                                                           for i in range(2)])


@pytest.mark.parametrize("op", [case for case in wider_cases() if case.values[0].arity == 3])
def test_hessian_of_every_primitive_of_three_arguments_matches_sympy(op):
    f = op(x, y, z)
    fn = sg.compile(f, wrt=[x, y, z], order=2)
    grids = [POINTS[domain][::2] for domain in ARGUMENT_DOMAINS(op)]
    for point in itertools.product(*grids):
        if len(set(point)) == 3:
            _assert_matrix_close(fn(*point)[2], _sympy_hessian(f, [x, y, z], dict(zip((x, y, z), point))))


def test_hessian_is_a_symmetric_nested_list_sharing_each_off_diagonal_entry():
    hessian = sg.hessian(sg.tanh(x * y) * z + x**2 / y, [x, y, z])
    assert [len(row) for row in hessian] == [3, 3, 3]
    for i in range(3):
        for j in range(3):
            assert hessian[i][j] is hessian[j][i]


def test_compiled_hessian_emits_each_off_diagonal_entry_once():
    source = sg.compile(ROSENBROCK, wrt=[x, y], order=2).source
    assert source.count("h_x_y =") == 1 and "h_y_x" not in source
    assert "((h_x_x, h_x_y), (h_x_y, 200.0))" in source


def test_order_2_returns_value_gradient_and_the_rosenbrock_hessian():
    value, gradient, hessian = sg.compile(ROSENBROCK, wrt=[x, y], order=2)(1.2, 1.0)
    assert value == pytest.approx(0.2**2 * 1 + 100 * (1.0 - 1.44) ** 2)
    assert gradient == pytest.approx((-2 * (1 - 1.2) - 400 * 1.2 * (1.0 - 1.44), 200 * (1.0 - 1.44)))
    assert [*hessian[0], *hessian[1]] == pytest.approx([2 - 400 * (1.0 - 1.44) + 800 * 1.44, -480.0, -480.0, 200.0])


def test_order_2_equals_compiling_the_hessian_expressions():
    f = sg.exp(x * y) * sg.sin(z) + sg.log(x) * y**3
    entries = [e for row in sg.hessian(f, [x, y, z]) for e in row]
    flat = sg.compile(entries, wrt=[], args=[x, y, z]).forward(0.7, -1.1, 0.4)
    _, _, hessian = sg.compile(f, wrt=[x, y, z], order=2)(0.7, -1.1, 0.4)
    assert [h for row in hessian for h in row] == pytest.approx(list(flat), rel=1e-12)


def test_hessian_of_a_symbol_the_output_ignores_is_zero():
    _, _, hessian = sg.compile(x**3, wrt=[x, y], order=2)(2.0, 5.0)
    assert hessian == ((12.0, 0.0), (0.0, 0.0))


def _rosenbrock(n):
    xs = sg.symbols(" ".join(f"x{i}" for i in range(n)))
    return sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1)), list(xs)


def test_large_hessian_is_built_from_its_distinct_entries_and_matches_the_tridiagonal_formula():
    f, xs = _rosenbrock(12)
    point = [0.1 * i - 0.4 for i in range(12)]
    fn = sg.compile(f, wrt=xs, order=2)
    assert "_matrix(" in fn.source
    hessian = fn(*point)[2]
    for i in range(12):
        for j in range(12):
            want = 0.0
            if i == j:
                want = (1200 * point[i] ** 2 - 400 * point[i + 1] + 2 if i < 11 else 0.0) + (200 if i > 0 else 0.0)
            elif abs(i - j) == 1:
                want = -400 * point[min(i, j)]
            assert hessian[i][j] == pytest.approx(want, rel=1e-12, abs=1e-12), (i, j)


def test_compiled_hessian_pickles_and_gives_the_same_numbers():
    f, xs = _rosenbrock(12)
    fn = sg.compile(f, wrt=xs, order=2)
    restored = pickle.loads(pickle.dumps(fn))
    point = [0.3] * 12
    assert restored(*point) == fn(*point)
    assert restored.order == 2 and restored.hessian_exprs == fn.hessian_exprs


def test_hvp_equals_hessian_times_vector():
    f, xs = _rosenbrock(6)
    rng = random.Random(1)
    point = [rng.uniform(-1, 1) for _ in xs]
    vector = [rng.uniform(-1, 1) for _ in xs]
    hessian = sg.compile(f, wrt=xs, order=2)(*point)[2]
    want = [sum(h * v for h, v in zip(row, vector)) for row in hessian]
    assert sg.compile_hvp(f, xs)(point, vector) == pytest.approx(want, rel=1e-12)


def test_hvp_of_the_issue_example():
    assert sg.compile_hvp(ROSENBROCK, [x, y])((1.2, 1.0), (0.3, -0.1)) == pytest.approx((447.0, -164.0))


def test_hvp_source_has_no_hessian_entries():
    source = sg.compile_hvp(ROSENBROCK, [x, y]).source
    assert "def f_hvp(x, y, v_x, v_y):" in source and "h_x_y" not in source


def test_hvp_names_its_vector_apart_from_the_users_symbols():
    v_x = sg.symbol("v_x")
    hvp = sg.compile_hvp(x**2 * v_x, [x])
    assert hvp.arg_names == ("x", "v_x")
    assert hvp((3.0, 5.0), (1.0,)) == (10.0,)


def test_hvp_with_a_wrong_length_vector_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="vector needs 2 values"):
        sg.compile_hvp(ROSENBROCK, [x, y])((1.0, 1.0), (1.0,))


def test_jacobian_matches_sympy():
    outputs = [ROSENBROCK, x * y, sg.sin(x)]
    rows = sg.jacobian(outputs, [x, y])
    fn = sg.compile([e for row in rows for e in row], wrt=[], args=[x, y])
    want = sympy.Matrix(sg.to_sympy(outputs)).jacobian(sg.to_sympy([x, y]))
    subs = {sg.to_sympy(x): 0.7, sg.to_sympy(y): -0.2}
    assert list(fn.forward(0.7, -0.2)) == pytest.approx([float(w.evalf(subs=subs)) for w in want], rel=1e-12)


def test_several_outputs_return_their_values_and_the_jacobian():
    values, jacobian = sg.compile([ROSENBROCK, x * y], wrt=[x, y])(1.2, 1.0)
    assert values == pytest.approx((0.2**2 + 100 * 0.44**2, 1.2))
    assert jacobian[1] == (1.0, 1.2)
    assert jacobian[0] == pytest.approx(sg.compile(ROSENBROCK, wrt=[x, y])(1.2, 1.0)[1])


def test_several_outputs_share_one_schedule():
    shared = sg.exp(x * y)
    source = sg.compile([shared + 1.0, shared * z], wrt=[x, y, z]).source
    assert source.split("try:")[1].count("exp(") == 1


def test_forward_of_several_outputs_returns_a_tuple_of_values():
    assert sg.compile([x * y, x + y], wrt=[x, y]).forward(2.0, 3.0) == (6.0, 5.0)


def test_third_derivative_by_differentiating_a_hessian_entry():
    f = sg.exp(x * y) * sg.sin(x)
    third = sg.grad(sg.hessian(f, [x, y])[0][1], [x])[0]
    got = sg.compile(third, wrt=[], args=[x, y]).forward(0.3, 0.8)
    want = sympy.diff(sg.to_sympy(f), sg.to_sympy(x), 2, sg.to_sympy(y))
    assert got == pytest.approx(float(want.evalf(subs={sg.to_sympy(x): 0.3, sg.to_sympy(y): 0.8})), rel=1e-12)


def test_jit_gains_a_hessian():
    @sg.jit
    def rosenbrock(a, b):
        return (1 - a) ** 2 + 100 * (b - a**2) ** 2

    assert rosenbrock.hessian(1.0, 1.0) == ((802.0, -400.0), (-400.0, 200.0))


def test_order_other_than_1_or_2_is_refused():
    with pytest.raises(ValueError, match="order must be 1"):
        sg.compile(x, wrt=[x], order=3)


def test_hessian_of_several_outputs_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="single output"):
        sg.compile([x, y], wrt=[x, y], order=2)


def test_cache_tells_order_and_outputs_apart():
    assert sg.compile(x * y, wrt=[x, y]) is not sg.compile(x * y, wrt=[x, y], order=2)
    assert sg.compile(x * y, wrt=[x, y]) is not sg.compile([x * y], wrt=[x, y])


def test_verify_checks_the_hessian_against_sympy():
    report = sg.verify(ROSENBROCK, [x, y], order=2)
    assert report.ok
    assert [r.name for r in report.rows][-3:] == ["d2/dx dx", "d2/dx dy", "d2/dy dy"]


def test_verify_checks_a_jacobian_against_sympy():
    report = sg.verify([ROSENBROCK, x * y, sg.sin(x)], [x, y])
    assert report.ok and len(report.rows) == 3 + 6


def test_verify_catches_a_rule_that_is_right_once_but_wrong_twice():
    square = sg.primitive("square", impl=lambda a: a * a, derivative=lambda a: a,  # should be 2a
                          sympy=lambda a: a**2)
    cube = sg.primitive("cube", impl=lambda a: a**3, derivative=lambda a: 3 * square(a), sympy=lambda a: a**3)
    report = sg.verify(cube(x), [x], order=2)
    rows = {r.name: r.ok for r in report.rows}
    assert rows == {"value": True, "d/dx": True, "d2/dx dx": False}


def test_aux_outputs_come_last_after_the_hessian():
    value, gradient, hessian, aux = sg.compile(x**2 * y, wrt=[x, y], order=2, aux=[x + y])(1.0, 3.0)
    assert (value, gradient, hessian, aux) == (3.0, (6.0, 1.0), ((6.0, 2.0), (2.0, 0.0)), (4.0,))


def test_aux_outputs_come_last_after_the_jacobian():
    values, jacobian, aux = sg.compile([x * y, x + y], wrt=[x, y], aux=[x - y])(2.0, 3.0)
    assert (values, jacobian, aux) == ((6.0, 5.0), ((3.0, 2.0), (1.0, 1.0)), (-1.0,))


def test_large_hessian_with_aux_keeps_every_output_in_its_place():
    f, xs = _rosenbrock(10)
    point = [0.2] * 10
    value, gradient, hessian, (aux,) = sg.compile(f, wrt=xs, order=2, aux=[xs[0] * 3])(*point)
    plain = sg.compile(f, wrt=xs, order=2)(*point)
    assert (value, gradient, hessian) == plain and aux == pytest.approx(0.6)
