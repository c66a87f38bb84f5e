"""Canonical algebra (symgrad.algebra): argument order, like terms, constants, and rewrites="exact"."""

import ast
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from benchmarks.expressions import EXPRESSIONS, FUNCTIONS, build, symbols_of
from symgrad.algebra import DESCENT, precedes

x, y, z = sg.symbols("x y z")


def rewritten(e, rewrites="all"):
    return sg.simplify([e], rewrites)[0][0]


# ---- one order for a commutative op's arguments ----


@pytest.mark.parametrize("op", ["+", "*"])
def test_a_commutative_op_in_either_order_is_one_node(op):
    first, second = (x + sg.exp(y), sg.exp(y) + x) if op == "+" else (x * sg.exp(y), sg.exp(y) * x)
    assert rewritten(first) is rewritten(second)


def test_the_order_is_constants_then_operations_then_symbols():
    assert repr(rewritten(x * 2.0)) == "2.0 * x"
    assert repr(rewritten(y + sg.sin(x))) == "sin(x) + y"


def test_symbols_are_ordered_by_name_with_numbers_compared_as_numbers():
    v = [sg.symbol(f"v{i}") for i in range(12)]
    for i in range(11):
        assert rewritten(v[i + 1] * v[i]).args == (v[i], v[i + 1])


def test_the_order_does_not_depend_on_which_node_was_made_first():
    late, early = sg.symbol("order_b_made_first"), sg.symbol("order_a_made_second")
    assert rewritten(late + early).args == (early, late)


def test_a_loop_gets_the_same_argument_order_at_every_step():
    xs = sg.vector("x", 30)
    terms = [rewritten((1 - xs[i]) ** 2 + 100 * (xs[i + 1] - xs[i] ** 2) ** 2) for i in range(29)]
    assert len({tuple(arg.op.name for arg in t.args) for t in terms}) == 1


def test_comparing_two_structures_looks_only_so_deep():
    a, b = x, y
    for _ in range(DESCENT + 5):
        a, b = sg.sin(a), sg.sin(b)
    assert not precedes(a, b) and not precedes(b, a)  # past the bound: the written order is kept


def _operands(node, op, sign, found):
    """The operands of a chain of ``op`` (+ and -, signed; or *) with their signs."""
    if isinstance(node, ast.BinOp):
        if op is ast.Add and isinstance(node.op, (ast.Add, ast.Sub)):
            _operands(node.left, op, sign, found)
            _operands(node.right, op, sign if isinstance(node.op, ast.Add) else -sign, found)
            return
        if op is ast.Mult and isinstance(node.op, ast.Mult):
            _operands(node.left, op, sign, found)
            _operands(node.right, op, sign, found)
            return
    found.append((sign, ast.dump(node)))


def _commutative_keys(source):
    """Every sum and product of the code, keyed by its terms (factors) with their order forgotten."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            op = ast.Mult if isinstance(node.op, ast.Mult) else ast.Add
            operands = []
            _operands(node, op, 1, operands)
            found.setdefault((op.__name__, *sorted(operands)), set()).add(ast.dump(node))
    return found


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_no_two_expressions_are_equal_up_to_the_order_of_their_terms_or_factors(name):
    text = EXPRESSIONS[name]
    names = symbols_of(text)
    symbols = [sg.symbol(n) for n in names]
    expr = build(text, dict(zip(names, symbols)), {f: getattr(sg, f) for f in FUNCTIONS}, sg.relu)
    source = sg.compile(expr, wrt=symbols, cache=False).source
    assert all(len(written) == 1 for written in _commutative_keys(source).values())


# ---- like terms and constants ----

LIKE_TERMS = [
    (lambda: x + x, "2 * x"),
    (lambda: x + 3 * x, "4 * x"),
    (lambda: 2 * x - 5 * x, "-3 * x"),
    (lambda: x - x, "0.0"),
    (lambda: y + (2 * y + sg.exp(x)), "3 * y + exp(x)"),
    (lambda: (x + 1) + 2, "3 + x"),
    (lambda: 3 * (2 * x), "6 * x"),
    (lambda: (1 / y) * sg.exp(x), "exp(x) / y"),
    (lambda: x * x, "x**2"),
    (lambda: x * x * x, "x**3"),
    (lambda: y - (-3) * x, "3 * x + y"),
    (lambda: -(x / 2.0), "x / -2.0"),
    (lambda: y + x - x, "y"),
    (lambda: 2 * x * y - 2 * y * x, "0.0"),
    (lambda: (3 * x) * x, "3 * x**2"),
    (lambda: x * sg.exp(y) + 3 * x * sg.exp(y) - sg.exp(y) * x, "3 * exp(y) * x"),
    (lambda: (2 * x) * (0.5 / y), "x / y"),
    (lambda: (2 * x) * (y / -2), "-(x * y)"),
    (lambda: 3 * (x / 2), "1.5 * x"),
    (lambda: 2 * (3 / y), "6 / y"),
    (lambda: (2 / x) * (3 / y), "6 / (x * y)"),
    (lambda: (2 * x) * (0.5 * y), "x * y"),
    (lambda: 3 * (x + 1) + 2, "5 + 3 * x"),
    (lambda: 2 * (1 - x) - 2, "-2 * x"),
    (lambda: ((x + 1) + 2) * 3 + 4 * (5 * y) - (z + 6), "3 + 3 * x + 20 * y - z"),
]


@pytest.mark.parametrize("build_it, want", LIKE_TERMS, ids=[w for _, w in LIKE_TERMS])
def test_like_terms_are_collected(build_it, want):
    assert repr(rewritten(build_it())) == want


def test_like_terms_are_collected_only_where_it_saves_operations():
    s = x + y  # x + y + x would be 2*x + y: as many operations, so it is left as written
    assert rewritten(s + x).args[0] is rewritten(s)


def test_a_scaled_product_has_one_factor_order():
    assert rewritten((2 * y) * x) is rewritten((2 * x) * y)


def test_a_scaled_product_is_a_like_term_of_the_product():
    assert rewritten(3 * x * y + y * x) is rewritten(4 * x * y)


def test_a_product_like_term_is_found_beyond_a_subtraction():
    s = 3 * x * sg.exp(y) + sg.log(z)
    assert rewritten(s + x * sg.exp(y) - sg.exp(y) * x) is rewritten(s)


def test_like_scaled_products_meet_whether_or_not_their_product_was_ever_built():
    # The rewrite depends on the graph alone: not on which other nodes are alive in the process.
    difference = rewritten((3 * x) * sg.exp(y) - (2 * x) * sg.exp(y))
    assert difference is rewritten(x * sg.exp(y))


def test_the_factor_order_is_not_an_exact_rewrite():
    kept = rewritten(2 * x * y - 2 * y * x, "exact")
    assert repr(kept) == "2 * x * y - 2 * y * x"


def test_gathering_constants_through_a_division_saves_the_shared_quotient_nothing():
    # The gradient of sqrt(x**2 + y**2): 2*x times 0.5/value, gathered to one division each.
    fn = sg.compile(sg.sqrt(x**2 + y**2), wrt=[x, y], cache=False)
    assert "d_x = x / value" in fn.source and "d_y = y / value" in fn.source


def test_a_constant_times_a_sum_is_opened_only_where_its_constant_meets_another():
    assert repr(rewritten(2 * (1 - x) + y)) == "2 * (1 - x) + y"


def test_deeper_like_terms_meet_as_a_chain_is_built():
    total = x
    for _ in range(5):
        total = total + 2 * x
    assert repr(rewritten(total)) == "11 * x"


def _tree(symbol_names):
    """Trees of + - * / over symbols, constants and scaled symbols (``c*x``: what the rules gather)."""
    symbol, number = st.sampled_from(symbol_names), st.sampled_from([2, 3, 0.5, -2, 1.5])
    scaled = st.one_of(st.tuples(st.just("*"), number, symbol), st.tuples(st.just("/"), number, symbol),
                       st.tuples(st.just("/"), symbol, number))
    leaf = st.one_of(symbol, number, scaled)
    return st.recursive(leaf, lambda inner: st.tuples(st.sampled_from("+-*"), inner, inner), max_leaves=8)


def _evaluate(tree, values):
    """The tree as written, over ``values`` (floats, symbols or ``_Bound``s)."""
    if isinstance(tree, str):
        return values[tree]
    if not isinstance(tree, tuple):
        return tree
    symbol, left, right = tree
    a, b = _evaluate(left, values), _evaluate(right, values)
    return a + b if symbol == "+" else a - b if symbol == "-" else a * b if symbol == "*" else a / b


class _Bound:
    """Bounds on the size of a term and of its derivative by one symbol, as a tree is evaluated:
    rounding differences between two ways of computing the tree are relative to these."""

    def __init__(self, size, slope=0.0):
        self.size, self.slope = size, slope

    @staticmethod
    def of(value):
        return value if isinstance(value, _Bound) else _Bound(abs(value))

    def __add__(self, other):
        other = _Bound.of(other)
        return _Bound(self.size + other.size, self.slope + other.slope)

    __radd__ = __sub__ = __rsub__ = __add__

    def __mul__(self, other):
        other = _Bound.of(other)
        return _Bound(self.size * other.size, self.slope * other.size + self.size * other.slope)

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = _Bound.of(other)
        return _Bound(self.size / other.size, self.slope / other.size + self.size * other.slope / other.size**2)

    def __rtruediv__(self, other):
        return _Bound.of(other) / self


def _bound(tree, values, symbol=None):
    return _Bound.of(_evaluate(tree, {n: _Bound(abs(v), float(n == symbol)) for n, v in values.items()}))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_tree("xyz"), st.lists(st.floats(0.5, 2.0), min_size=3, max_size=3))
def test_the_rewritten_value_agrees_with_the_value_as_written(tree, point):
    values = dict(zip("xyz", point))
    expr = _evaluate(tree, {name: sg.symbol(name) for name in "xyz"})
    fn = sg.compile(sg.const(0) + expr, wrt=[], args=[x, y, z], cache=False)
    assert abs(fn.forward(*point) - _evaluate(tree, values)) <= 1e-12 * _bound(tree, values).size


@settings(max_examples=100, deadline=None, derandomize=True)
@given(_tree("xyz"), st.lists(st.floats(0.5, 2.0), min_size=3, max_size=3))
def test_the_rewritten_gradient_agrees_with_the_gradient_of_the_exact_rewrites(tree, point):
    values = dict(zip("xyz", point))
    expr = sg.const(0) + _evaluate(tree, {name: sg.symbol(name) for name in "xyz"})
    _, rewritten_gradient = sg.compile(expr, wrt=[x, y, z], cache=False)(*point)
    _, exact_gradient = sg.compile(expr, wrt=[x, y, z], rewrites="exact", cache=False)(*point)
    for name, got, want in zip("xyz", rewritten_gradient, exact_gradient):
        assert abs(got - want) <= 1e-12 * _bound(tree, values, name).slope


# ---- rewrites="exact": bit for bit ----


def _bits(value):
    return struct.pack("<d", value)


class _Written(float):
    """A float whose powers mean what symgrad's do (x**2 is x * x, README "Powers"); every other
    operation is the float's own, one rounding each, in the order written."""

    def __pow__(self, k):
        return _Written(self * self) if k == 2 else _Written(float(self) ** k)

    def __rpow__(self, base):
        return _Written(base ** float(self))


def _staying_written(method):
    return lambda self, other: _Written(method(self, other))


for _name in ("add", "sub", "mul", "truediv"):
    for _dunder in (f"__{_name}__", f"__r{_name}__"):
        setattr(_Written, _dunder, _staying_written(getattr(float, _dunder)))
_Written.__neg__ = lambda self: _Written(-float(self))


def _as_written(text, values):
    functions = {name: (lambda f: lambda v: _Written(f(v)))(getattr(math, name)) for name in FUNCTIONS}
    return build(text, {k: _Written(v) for k, v in values.items()}, functions, lambda v: v if v > 0 else 0.0)


# x**3 is emitted as x * x * x in either mode (README, "Powers"), which Python's ** rounds once.
SMALL = [name for name, text in EXPRESSIONS.items() if not text.startswith("micrograd") and "**3" not in text]


@pytest.mark.parametrize("name", SMALL)
@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.1, 3.0), min_size=4, max_size=4))
def test_exact_rewrites_compute_the_value_as_written_bit_for_bit(name, points):
    text = EXPRESSIONS[name]
    names = symbols_of(text)
    symbols = [sg.symbol(n) for n in names]
    expr = build(text, dict(zip(names, symbols)), {f: getattr(sg, f) for f in FUNCTIONS}, sg.relu)
    fn = sg.compile(expr, wrt=symbols, rewrites="exact")
    values = dict(zip(names, points))
    assert _bits(fn.forward(*(values[n] for n in names))) == _bits(_as_written(text, values))


def test_exact_rewrites_keep_what_changes_bits():
    kept = rewritten(0 * sg.exp(x) + (x + 0.1) + 0.2 + 3 * x, "exact")
    assert "0 * exp(x)" in repr(kept) and "0.2" in repr(kept) and "3 * x" in repr(kept)


def test_exact_rewrites_keep_the_sign_of_a_zero():
    fn = sg.compile(x + 0.0, wrt=[x], rewrites="exact")
    assert math.copysign(1.0, fn.forward(-0.0)) == 1.0  # -0.0 + 0.0 is 0.0


def test_an_unknown_rewrites_option_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="rewrites must be one of 'all', 'exact'"):
        sg.compile(x, wrt=[x], rewrites="some")


def test_the_two_modes_are_cached_apart():
    assert sg.compile(x + x + x, wrt=[x]).source != sg.compile(x + x + x, wrt=[x], rewrites="exact").source
