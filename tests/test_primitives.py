"""User-defined primitives: registered in the op table, usable everywhere a built-in is."""

import math
import pickle

import pytest
import sympy

import symgrad as sg
from symgrad import ops

x, y = sg.symbols("x y")


def _softplus():
    return sg.primitive("smoothrelu", impl=lambda a: math.log1p(math.exp(a)), derivative=lambda a: sg.sigmoid(a),
                        sympy=lambda a: sympy.log(1 + sympy.exp(a)))


def test_a_primitive_joins_the_op_table():
    softplus = _softplus()
    assert ops.by_name("smoothrelu") is softplus and softplus.user


def test_a_primitive_compiles_to_a_call_by_its_name():
    softplus = _softplus()
    fn = sg.compile(softplus(x * y), wrt=[x, y])
    assert "smoothrelu(" in fn.source
    value, (gx, gy) = fn(0.5, 2.0)
    s = 1 / (1 + math.exp(-1.0))
    assert value == pytest.approx(math.log1p(math.e)) and (gx, gy) == pytest.approx((2.0 * s, 0.5 * s))


def test_a_primitive_with_two_arguments_takes_a_tuple_of_partials():
    logsumexp2 = sg.primitive(
        "logsumexp2", impl=lambda a, b: max(a, b) + math.log1p(math.exp(-abs(a - b))),
        derivative=lambda a, b: (sg.sigmoid(a - b), sg.sigmoid(b - a)),
        sympy=lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)))
    assert logsumexp2.arity == 2
    assert sg.verify(logsumexp2(x, 2 * y), [x, y], order=2).ok


def test_verify_of_a_primitive_checks_value_gradient_and_hessian_against_sympy():
    softplus = _softplus()
    report = sg.verify(softplus(x) * y, [x, y], order=2)
    assert report.ok and all(r.symbolic.startswith("equal") for r in report.rows)


def test_verify_catches_a_wrong_user_derivative():
    bad = sg.primitive("my_erf", impl=math.erf, derivative=lambda a: sg.exp(-a * a), sympy=sympy.erf)  # no 2/sqrt(pi)
    report = sg.verify(bad(x), [x])
    assert not report.ok
    assert [r.ok for r in report.rows] == [True, False]


def test_a_primitive_without_sympy_is_checked_by_finite_differences():
    erf = sg.primitive("my_erf", impl=math.erf, derivative=lambda a: 2 / math.sqrt(math.pi) * sg.exp(-a * a))
    report = sg.verify(erf(x * y), [x, y])
    assert report.ok and "no SymPy mapping for my_erf" in str(report)


def test_to_sympy_of_a_primitive_without_mapping_names_it():
    erf = sg.primitive("my_erf", impl=math.erf, derivative=lambda a: 2 / math.sqrt(math.pi) * sg.exp(-a * a))
    with pytest.raises(TypeError, match="'my_erf' has no SymPy mapping"):
        sg.to_sympy(erf(x))


def test_a_primitive_is_drawn_with_its_name():
    softplus = _softplus()
    assert "smoothrelu" in sg.draw(softplus(x), backward=True).source


def test_a_primitive_inside_jit_and_its_hessian():
    softplus = _softplus()

    @sg.jit
    def f(a):
        return softplus(a)

    s = 1 / (1 + math.exp(-0.3))
    assert f.hessian(0.3) == ((pytest.approx(s * (1 - s)),),)


def test_constants_fold_through_a_primitives_impl():
    softplus = _softplus()
    (folded,), stats = sg.simplify([softplus(sg.const(0.0)) + x])
    assert stats.folded == 1 and folded.args[0].value == pytest.approx(math.log(2))


def test_a_compiled_function_with_a_primitive_pickles_while_it_is_registered():
    softplus = _softplus()
    fn = sg.compile(softplus(x), wrt=[x])
    assert pickle.loads(pickle.dumps(fn))(1.0) == fn(1.0)


def test_redefining_a_primitive_needs_replace_and_never_reuses_the_old_compiled_code():
    sg.primitive("twice", impl=lambda a: 2 * a, derivative=lambda a: 2.0)
    old = sg.compile(ops.by_name("twice")(x), wrt=[x])
    with pytest.raises(ValueError, match="replace=True"):
        sg.primitive("twice", impl=lambda a: 3 * a, derivative=lambda a: 3.0)
    thrice = sg.primitive("twice", impl=lambda a: 3 * a, derivative=lambda a: 3.0, replace=True)
    new = sg.compile(thrice(x), wrt=[x])
    assert new is not old and new(1.0) == (3.0, (3.0,)) and old(1.0) == (2.0, (2.0,))


def test_a_built_in_cannot_be_replaced():
    with pytest.raises(ValueError, match="built-in op"):
        sg.primitive("tanh", impl=math.tanh, derivative=lambda a: 1 - sg.tanh(a) ** 2, replace=True)


@pytest.mark.parametrize("name", ["", "1abc", "_private", "lambda", "x y", "exp", "powi", "ünï"])
def test_a_name_that_could_clash_or_is_not_an_identifier_is_refused(name):
    with pytest.raises(ValueError, match=r"name|built-in"):
        sg.primitive(name, impl=lambda a: a, derivative=lambda a: 1.0)


def test_a_derivative_written_with_math_instead_of_symgrad_is_refused_at_once():
    with pytest.raises(TypeError, match=r"use sg\.exp"):
        sg.primitive("myexp", impl=math.exp, derivative=lambda a: math.exp(a))


def test_a_derivative_with_the_wrong_number_of_partials_is_refused():
    with pytest.raises(TypeError, match="2 partial"):
        sg.primitive("hyp", impl=lambda a, b: math.hypot(a, b), derivative=lambda a, b: a / sg.sqrt(a * a + b * b))


def test_a_derivative_that_uses_a_foreign_symbol_is_refused():
    with pytest.raises(ValueError, match="other than its arguments"):
        sg.primitive("scaled", impl=lambda a: a, derivative=lambda a: y)


def test_a_symbol_named_like_a_primitive_keeps_its_name_and_the_primitive_is_called_name_underscore():
    softplus = _softplus()
    clash = sg.symbol("smoothrelu")
    fn = sg.compile(softplus(clash), wrt=[clash])
    assert fn.arg_names == ("smoothrelu",) and "smoothrelu_(smoothrelu)" in fn.source
    assert fn(0.0)[0] == pytest.approx(math.log(2))


@pytest.mark.parametrize("name", ["x", "t0", "g0", "value", "d_x", "float", "xp"])
def test_registering_a_primitive_renames_no_argument_and_keeps_older_pickles_loadable(name):
    import pickle

    before = sg.compile(x * x * y, wrt=[x, y])
    stored = pickle.dumps(before)
    sg.primitive(name, impl=lambda a: a, derivative=lambda a: 1.0)
    after = sg.compile(x * x * y, wrt=[x, y], cache=False)
    assert after.arg_names == ("x", "y") and after.source == before.source
    assert pickle.loads(stored)(3.0, 2.0) == (18.0, (12.0, 9.0))


def test_a_primitive_that_raises_a_value_error_is_explained():
    root = sg.primitive("root", impl=math.sqrt, derivative=lambda a: 0.5 / sg.sqrt(a))
    with pytest.raises(sg.EvaluationError, match="root"):
        sg.compile(root(x), wrt=[x])(-1.0)
