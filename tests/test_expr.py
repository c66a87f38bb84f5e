"""The expression graph: hash-consing, operators, refusals, weak interning."""

import gc
import pickle

import pytest

import symgrad as sg
from symgrad.expr import _interned, count_nodes, to_text


def test_same_subexpression_is_the_same_node():
    x, y = sg.symbols("x y")
    assert (x * y + sg.tanh(x)) is (x * y + sg.tanh(x))


def test_symbols_are_interned_by_name():
    assert sg.symbols("x") is sg.symbol("x")


def test_symbols_accepts_spaces_and_commas():
    a, b, c = sg.symbols("a, b c")
    assert [s.name for s in (a, b, c)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "build, text",
    [
        (lambda x: 2 + x, "2 + x"),
        (lambda x: x + 2, "x + 2"),
        (lambda x: 2 - x, "2 - x"),
        (lambda x: 2 * x, "2 * x"),
        (lambda x: 2 / x, "2 / x"),
        (lambda x: 2**x, "pow(2, x)"),
        (lambda x: x**2, "x**2"),
        (lambda x: x**0.5, "x**0.5"),
        (lambda x: -x, "-x"),
        (lambda x: abs(x), "abs(x)"),
        (lambda x: +x, "x"),
    ],
)
def test_operators_work_with_numbers_on_either_side(build, text):
    assert repr(build(sg.symbols("x"))) == text


def test_integer_valued_float_exponent_is_an_integer_power():
    x = sg.symbols("x")
    assert (x**2.0) is (x**2)
    assert (x**2).op.name == "powi"
    assert (x**2.5).op.name == "powc"
    assert (x ** sg.symbols("y")).op.name == "pow"


def test_constant_expression_exponent_is_treated_as_a_number():
    x = sg.symbols("x")
    assert (x ** sg.const(3)) is (x**3)


def test_int_and_float_constants_are_different_nodes():
    assert sg.const(1) is not sg.const(1.0)


def test_zero_and_negative_zero_are_different_nodes():
    assert sg.const(0.0) is not sg.const(-0.0)


def test_nan_constant_is_interned():
    assert sg.const(float("nan")) is sg.const(float("nan"))


def test_bool_of_an_expression_raises_a_clear_type_error():
    x = sg.symbols("x")
    with pytest.raises(TypeError, match="truth value of the symbolic expression"):
        bool(x)


@pytest.mark.parametrize("compare, want", [(lambda x: x < 1, (0.0, 0.0, 1.0)), (lambda x: x <= 1, (0.0, 1.0, 1.0)),
                                           (lambda x: x > 1, (1.0, 0.0, 0.0)), (lambda x: x >= 1, (1.0, 1.0, 0.0))])
def test_a_comparison_builds_a_condition_node_of_value_one_or_zero(compare, want):
    x = sg.symbols("x")
    condition = compare(x)
    assert isinstance(condition, sg.Expr)
    assert tuple(sg.compile(condition, wrt=[x])(p)[0] for p in (2.0, 1.0, 0.0)) == want


@pytest.mark.parametrize("compare", [lambda x: x < 1, lambda x: 0 <= x, lambda x: x > x * 2])
def test_a_condition_node_has_no_truth_value_either(compare):
    with pytest.raises(TypeError, match="truth value of the symbolic expression"):
        bool(compare(sg.symbols("x")))


def test_max_of_expressions_raises_instead_of_choosing_one():
    x, y = sg.symbols("x y")
    with pytest.raises(TypeError, match=r"sg\.where"):
        max(x, y)


def test_if_on_an_expression_raises():
    x = sg.symbols("x")
    with pytest.raises(TypeError):
        if x:
            pass


def test_float_of_an_expression_points_to_symgrad_functions():
    import math

    with pytest.raises(TypeError, match="use symgrad's functions"):
        math.tanh(sg.symbols("x"))


def test_non_numbers_are_refused_as_constants():
    x = sg.symbols("x")
    with pytest.raises(TypeError, match="expected a number"):
        x + "1"
    with pytest.raises(TypeError, match="expected a number"):
        x * True


def test_equality_is_structural_identity():
    x, y = sg.symbols("x y")
    assert (x + y) == (x + y)
    assert (x + y) != (y + x)


def _interned_count():
    return sum(len(table) for table in _interned.values())


def test_interning_is_weak():
    gc.collect()
    before = _interned_count()
    x = sg.symbols("x")
    nodes = [sg.exp(x * (i + 0.5)) for i in range(1000)]
    assert _interned_count() >= before + 2000
    del nodes
    gc.collect()
    assert _interned_count() <= before + 1


def test_repr_of_a_deep_chain_is_bounded_and_does_not_recurse():
    x = sg.symbols("x")
    e = x
    for _ in range(50_000):
        e = sg.sin(e)
    text = repr(e)
    assert text.startswith("sin(sin(") and len(text) < 400


def test_to_text_brackets_by_precedence():
    x, y, z = sg.symbols("x y z")
    assert to_text((x + y) * z) == "(x + y) * z"
    assert to_text(x - (y - z)) == "x - (y - z)"
    assert to_text(x / (y * z)) == "x / (y * z)"
    assert to_text((-x) ** 2) == "(-x)**2"


def test_count_nodes_counts_shared_nodes_once():
    x, y = sg.symbols("x y")
    p = x * y
    assert count_nodes([p + p]) == 4


def test_expressions_pickle_and_come_back_as_the_same_node():
    x, y = sg.symbols("x y")
    e = sg.tanh(x * y) + x**2 / y - 0.0
    assert pickle.loads(pickle.dumps(e)) is e


def test_topological_order_puts_arguments_first():
    x, y = sg.symbols("x y")
    e = sg.exp(x * y) + x
    order = sg.topological_order([e])
    position = {n: i for i, n in enumerate(order)}
    for node in order:
        for arg in node.args:
            assert position[arg] < position[node]


def test_one_structure_is_one_node_under_eight_racing_threads():
    # Threads that build and drop the same symbol race to intern it and to forget it.
    import sys
    import threading

    split, unraisable = [], []
    barrier = threading.Barrier(8)

    def build_and_drop():
        barrier.wait()
        for _ in range(20000):
            a, b = sg.symbol("raced"), sg.symbol("raced")
            if a is not b:
                split.append(a)
            del a, b

    interval, hook = sys.getswitchinterval(), sys.unraisablehook
    sys.setswitchinterval(1e-6)
    sys.unraisablehook = lambda report: unraisable.append(report.exc_value)
    try:
        threads = [threading.Thread(target=build_and_drop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        sys.unraisablehook = hook
    assert not split and not unraisable
    a, b = sg.symbol("raced"), sg.symbol("raced")
    assert sg.compile(a * b, wrt=[a])(3.0) == (9.0, (6.0,))


@pytest.mark.parametrize("build", [lambda x: x * 10**400, lambda x: x + sg.const(-(10**400)), lambda x: x ** 10**400])
def test_an_integer_too_large_for_a_float_is_refused_where_it_is_written(build):
    with pytest.raises(ValueError, match="too large for a float"):
        build(sg.symbol("x"))


def test_an_integer_constant_that_fits_a_float_is_kept():
    x = sg.symbol("x")
    assert sg.compile(x * 10**300, wrt=[x])(2.0) == (2e300, (1e300,))
