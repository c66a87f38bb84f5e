"""Canonical algebra: one order for a commutative op's arguments, and sums with like terms collected.

The rules here are listed in the ``add``, ``sub`` and ``mul`` entries of ``symgrad.ops`` and run as
every other rule does, as nodes are made (``symgrad.simplify``):

- canonical order: ``a + b`` and ``b + a`` are one node, whose arguments are in the order ``precedes``
  gives. The order is structural, so it is the same in every process and for every history of the
  intern tables: constants first, then operations (by their op's place in the table, then their
  arguments, compared left to right), then symbols (by name, numbers in a name compared as
  numbers, so ``x[9]`` comes before ``x[10]``). A loop that builds the same shape over
  ``x[i]``, ``x[i+1]`` gets the same order at every ``i``, which keeps ``symgrad.vectorise``'s
  groups regular. Exact: ``a + b`` and ``b + a`` round alike.
- ``twice`` (``x + x → 2*x``) and ``square`` (``x*x → x**2``, ``x**2*x → x**3``, which print as
  the same products): exact.
- ``like_terms``: a sum's terms, looked at two levels deep (each argument, and the two terms of an
  argument that is itself a sum), collected as coefficient × base (``c*x``, ``-x``, ``x``; a
  scaled product ``(c*p)*q`` is c × ``p*q``; a constant times a sum with a constant, ``c*(k ± s)``,
  the two terms ``c*k`` and ``±c*s``, so ``3*(x + 1) + 2 → 5 + 3*x``) with
  the constants added up, when that takes fewer operations: ``x + 3*x → 4*x``,
  ``d + (2*d + r) → 3*d + r``, ``(x + 1) + 2 → x + 3``. Deeper like terms meet as a chain is built,
  since each link is collected as it is made; two levels keep every build O(1). It reassociates
  and rounds coefficients, so a result may differ in the last bits (the README has the measure);
  a coefficient that cancels drops its term, which assumes the term finite, as ``0*x → 0`` does.
- ``scales``: ``c1*(c2*x) → (c1*c2)*x``: the constants of a product gathered, through ``/`` too
  (``(c1*x)*(c2/y) → (c1*c2)*x/y``, ``(c1*x)*(y/c2) → (c1/c2)*x*y``), and a scaled product in one
  factor order, ``(c*b)*a → (c*a)*b`` as ``precedes`` orders ``a`` and ``b`` (not exact: ``c1*c2``
  is rounded, and the factors round in another order). Not ``(c1*x)*(c2*y)`` unless ``c1*c2`` is
  ±1, and the constant stays with its factor, not ``c*(x*y)``: reverse mode shares its scaled
  adjoints, which those would compute again (measured: Rosenbrock's set-up makes more nodes).
- ``signs``: ``-(x/c) → x/(-c)`` (exact: negating a constant is); ``reciprocal``: ``(1/a)*b → b/a``
  (one rounding fewer: not exact, and the more accurate).
"""

from __future__ import annotations

import math
import re
from typing import Any

from symgrad.core import Op, all_ops
from symgrad.expr import CONST, SYMBOL, Expr, const, intern_node, make
from symgrad.rules import Rule, rule

# ``precedes`` compares two structures this many levels down at most; past it, the written order
# is kept (two such sums stay two nodes), so comparing is O(1) and building stays linear.
DESCENT = 24

_ranks: dict[Op, int] = {}  # an op's place in the table
# The arithmetic ops the rules build with: symgrad.ops declares them (with these rules in their
# entries) and gives them here, by ``use_ops``, before any rule can run.
ADD: Any = None
SUB: Any = None
MUL: Any = None
NEG: Any = None
POWI: Any = None
DIV: Any = None


def use_ops(add: Op, sub: Op, mul: Op, neg: Op, int_power: Op, div: Op) -> None:
    global ADD, SUB, MUL, NEG, POWI, DIV
    ADD, SUB, MUL, NEG, POWI, DIV = add, sub, mul, neg, int_power, div


def _rank(op: Op) -> int:
    rank = _ranks.get(op)
    if rank is None:  # an op registered since (a user's primitive): number them again
        _ranks.clear()
        _ranks.update((o, i) for i, o in enumerate(all_ops()))
        rank = _ranks.get(op, len(_ranks))
    return rank


_DIGITS = re.compile(r"(\d+)")
_name_keys: dict[str, tuple[Any, ...]] = {}


def _name_key(name: str) -> tuple[Any, ...]:
    """A symbol name's sort key: its runs of digits compared as numbers (``x9`` before ``x10``)."""
    key = _name_keys.get(name)
    if key is None:
        parts = _DIGITS.split(name)
        key = tuple(part if i % 2 == 0 else (len(part.lstrip("0")), part.lstrip("0"), part)
                    for i, part in enumerate(parts))
        if len(_name_keys) > 1 << 16:  # bounded: names come and go with their graphs
            _name_keys.clear()
        _name_keys[name] = key
    return key


def _number_precedes(p: Any, q: Any) -> bool:
    if p < q:
        return True
    if q < p:
        return False
    # Equal values, distinct nodes: 1 before 1.0, -0.0 before 0.0 (by the bit pattern).
    return (type(p) is float, float(p).hex()) < (type(q) is float, float(q).hex())


def precedes(x: Expr, y: Expr) -> bool:
    """Whether ``x`` goes before ``y`` among a commutative op's arguments (the canonical order)."""
    for _ in range(DESCENT):
        ox, oy = x.op, y.op
        if ox is not oy:  # constants, then operations by their op, then symbols
            if ox is CONST or oy is SYMBOL:
                return True
            if oy is CONST or ox is SYMBOL:
                return False
            return _rank(ox) < _rank(oy)
        if ox is SYMBOL:
            return _name_key(x.param) < _name_key(y.param)
        px, py = x.param, y.param
        if ox is CONST or px != py:
            return _number_precedes(px, py) if isinstance(px, (int, float)) else False
        for ax, ay in zip(x.args, y.args):
            if ax is not ay:
                x, y = ax, ay
                break
        else:
            return False  # the same structure is the same node: not reached
    return False


def _scaled(e: Expr, sign: int, terms: list[tuple[Any, Base]]) -> None:
    """Append ``sign * e`` as (coefficient, base): ``c*x`` is (c, x), ``(c*p)*q`` (c, the product
    ``(p, q)``), ``-x`` (-1, x), a number (c, None), and ``c*(k ± s)`` the two terms (c*k, None)
    and (±c, s)."""
    if e.op is CONST:
        terms.append((sign * e.param, None))
        return
    if e.op is NEG:
        e, sign = e.args[0], -sign
    base = _base(e)
    if base is None:  # c*(k ± s)
        c, (k, rest) = e.args[0].param * sign, e.args[1].args
        terms.append((c * k.param, None))
        terms.append((c if e.args[1].op is ADD else -c, rest))
        return
    if base is e or base is e.args:
        terms.append((sign, base))
        return
    a, b = e.args
    scale = a if a.op is CONST else a.args[0] if a.op is MUL and a.args[0].op is CONST else b.args[0]
    terms.append((sign * scale.param, base))


# What a term is a multiple of: a node, or a product of two factors as the pair of them (so that
# ``(c*p)*q`` and ``p*q`` meet without making or looking up the node ``p*q``: the rewrite depends
# on the graph alone, not on which other nodes happen to be alive).
Base = Expr | tuple[Expr, ...] | None


def _base(e: Expr) -> Base:
    """What ``_scaled`` takes ``e`` to be a multiple of (None: a number, or ``c*(k ± s)``, whose
    constant is gathered with a sum's). A product ``p*q``, scaled as ``(c*p)*q`` (canonical order
    writes them so, ``scales``) or not, is the pair ``(p, q)``."""
    op = e.op
    if op is CONST:
        return None
    if op is NEG:
        e = e.args[0]
        op = e.op
    if op is not MUL:
        return e
    a, b = e.args
    a_op, b_op = a.op, b.op
    if a_op is CONST:
        if b_op is ADD or b_op is SUB:
            return None if b.args[0].op is CONST else b
        if b_op is CONST:
            return e
        return b.args if b_op is MUL and b.args[0].op is not CONST else b
    if a_op is MUL:
        # (c1*p)*(c2*r) is not c1 × p*(c2*r): that product is never canonical
        if a.args[0].op is CONST and b_op is not CONST and not (b_op is MUL and b.args[0].op is CONST):
            return a.args[1], b
    elif b_op is MUL and b.args[0].op is CONST:
        return b.args[1], a
    return e.args


def _node_of(base: Expr | tuple[Expr, ...]) -> Expr:
    """The node a base stands for."""
    return make(MUL, base) if isinstance(base, tuple) else base


def _may_share_a_base(a: Expr, b: Expr) -> bool:
    """Whether ``a`` or one of its two terms (if it is a sum) has the base of ``b`` or of one of its
    (written out: every ``add`` and ``sub`` node made asks it)."""
    left, right = _base(a), _base(b)
    if left == right:
        return True
    b_sum = b.op is ADD or b.op is SUB
    if b_sum:
        right0, right1 = _base(b.args[0]), _base(b.args[1])
        if right0 == left or right1 == left:
            return True
    if a.op is ADD or a.op is SUB:
        left0, left1 = _base(a.args[0]), _base(a.args[1])
        if left0 == right or left1 == right:
            return True
        if b_sum:
            return right0 == left0 or right0 == left1 or right1 == left0 or right1 == left1
    return False


def _opened(e: Expr, sign: int) -> list[tuple[Any, Base]] | None:
    """The two terms of ``sign * e`` if it is a sum or a difference, else None."""
    op = e.op
    if op is not ADD and op is not SUB:
        return None
    terms: list[tuple[Any, Base]] = []
    p, q = e.args
    _scaled(p, sign, terms)
    _scaled(q, sign if op is ADD else -sign, terms)
    return terms


def _cost(terms: list[tuple[Any, Base]]) -> int:
    """Operations a sum of ``terms`` takes: the additions, the coefficients, a final negation."""
    scaled = sum(1 for c, base in terms if base is not None and c != 1 and c != -1)
    negated = 0 if any(c > 0 for c, _ in terms) else 1
    return len(terms) - 1 + scaled + negated


def _times(c: Any, base: Expr | tuple[Expr, ...]) -> Expr:
    """``c * base``, written ``(c*p)*q`` for a product ``(p, q)`` (as ``scales`` writes it)."""
    if isinstance(base, tuple):
        p, q = base
        return make(MUL, (make(MUL, (const(c), p)), q))
    return make(MUL, (const(c), base))


def _sum_of(terms: list[tuple[Any, Base]]) -> Expr:
    """The sum of (coefficient, base) terms, in their order but for a positive one first."""
    first = next((i for i, (c, _) in enumerate(terms) if c > 0), None)
    if first is None and len(terms) == 1:  # -3*x: one multiplication, not a negation of 3*x
        c, base = terms[0]
        return const(c) if base is None else make(NEG, (_node_of(base),)) if c == -1 else _times(c, base)
    if first is None:
        return make(NEG, (_sum_of([(-c, base) for c, base in terms]),))
    total = None
    for c, base in [terms[first], *terms[:first], *terms[first + 1 :]]:
        size = -c if c < 0 else c
        node = const(size) if base is None else _node_of(base) if size == 1 else _times(size, base)
        total = node if total is None else make(ADD if c > 0 else SUB, (total, node))
    assert total is not None
    return total


def _collected(terms: list[tuple[Any, Base]]) -> Expr | None:
    """The sum of ``terms`` with like terms collected, if that takes fewer operations; else None."""
    merged: dict[Base, Any] = {}
    for c, base in terms:
        merged[base] = merged.get(base, 0) + c
    if len(merged) == len(terms):
        return None
    collected = [(c, base) for base, c in merged.items() if c != 0]
    if not all(math.isfinite(c) for c, _ in collected) or _cost(collected) >= _cost(terms):
        return None
    return _sum_of(collected) if collected else const(0.0)


def _constant_part(e: Expr) -> tuple[Any, Any, Expr | None, bool] | None:
    """``e`` as (n, d, rest, over): ``e`` is ``(n/d) * rest`` (``over`` False) or ``(n/d) / rest``;
    rest None for a number; None if ``e`` has no constant factor or divisor."""
    op = e.op
    if op is CONST:
        return e.param, 1, None, False
    if op is MUL or op is DIV:
        a, b = e.args
        if a.op is CONST and b.op is not CONST:
            return a.param, 1, b, op is DIV
        if op is DIV and b.op is CONST and a.op is not CONST and b.param != 0:
            return 1, b.param, a, False
    return None


POWER_OF_TWO_SCALE = "c*(2^k*x) → (c*2^k)*x"  # reverse mode makes it from every x**2: g * (2 * x)
GATHERED, FACTOR_ORDER = "c1*(c2*x) → (c1*c2)*x", "(c*b)*a → (c*a)*b (canonical order)"


def _is_scale(value: int | float) -> bool:
    """``value`` is ±2^k with k ≥ 0: multiplying by it only moves the exponent."""
    return 1 <= abs(value) <= 2.0**1000 and math.frexp(value)[0] in (0.5, -0.5)


def _in_factor_order(scaled: Expr, other: Expr) -> Any:
    """``(c*p)*q`` with ``p`` before ``q`` (``c*p**2`` if they are one): the one node for either."""
    c, p = scaled.args
    if p is other:
        return FACTOR_ORDER, make(MUL, (c, make(POWI, (p,), 2)))
    if precedes(other, p):
        return FACTOR_ORDER, make(MUL, (make(MUL, (c, other)), p))
    return None


@rule("c1*(c2*x) → (c1*c2)*x", ("mul", "div"), exact=False)
def scales(args: tuple[Expr, ...], _param: Any) -> Any:
    """Gather a product's constants, through ``/`` too (``(c1*x)*(c2/y) → (c1*c2)*x/y``), and write
    a scaled product ``(c*p)*q`` in one factor order. Named apart where the inner constant is ±2^k,
    whose product is one rounding of c*2^k*x either way (not exact only where 2^k*x overflows)."""
    a, b = args
    fa, fb = _constant_part(a), _constant_part(b)
    if fa is None or fb is None:
        if fa is None and fb is None:
            return None
        scaled, other = (a, b) if fb is None else (b, a)
        if scaled.op is MUL and scaled.args[0].op is CONST and other.op is not CONST:
            return _in_factor_order(scaled, other)
        return None
    (na, da, ra, over_a), (nb, db, rb, over_b) = fa, fb
    n, d = na * nb, da * db
    if ra is None and rb is None:
        return None  # folded
    if d == 1 and n != 1 and n != -1 and ra is not None and rb is not None and not over_a and not over_b:
        return None  # (c1*x)*(c2*y): reverse mode shares its scaled adjoints, which this would compute again
    if d != 1:
        if d == 0 or not math.isfinite(d):
            return None
        n /= d
    if n == 0 or not math.isfinite(n):
        return None  # a product that over- or underflows is left as written
    if ra is None or rb is None:
        rest, over = (rb, over_b) if ra is None else (ra, over_a)
        assert rest is not None
        gathered = make(DIV if over else MUL, (const(n), rest))
        inner = nb if ra is None else na
        plain = d == 1 and not over
        return (POWER_OF_TWO_SCALE if plain and _is_scale(inner) else GATHERED), gathered
    if over_a and over_b:
        return GATHERED, make(DIV, (const(n), make(MUL, (ra, rb))))
    if over_a or over_b:
        top, bottom = (rb, ra) if over_a else (ra, rb)
        return GATHERED, make(DIV, (make(MUL, (const(n), top)), bottom))
    return GATHERED, make(MUL, (make(MUL, (const(n), ra)), rb))


# What a rule made, named in ``RewriteStats``: the rules below each make one of several rewrites.
TWICE, CANCEL, LIKE_TERMS = "x + x → 2*x", "x - x → 0", "like terms collected"
NEGATIVE_SCALE = {"add": "a + (-c)*x → a - c*x", "sub": "a - (-c)*x → a + c*x"}
ORDERED = {"add": "b + a → a + b (canonical order)", "mul": "b * a → a * b (canonical order)"}
SQUARE, CUBE = "x*x → x**2", "x**2*x → x**3"


def _like_terms(a: Expr, b: Expr, second: int) -> Expr | None:
    """``a + second*b`` with like terms collected, if that takes fewer operations; else None.

    Each side is itself, or its two terms if it is a sum: the first pairing, in that order, whose
    collected form is cheaper is taken."""
    left: list[tuple[Any, Base]] = []
    right: list[tuple[Any, Base]] = []
    _scaled(a, 1, left)
    _scaled(b, second, right)
    left_open, right_open = _opened(a, 1), _opened(b, second)
    for a_terms in (left, left_open):
        for b_terms in (right, right_open):
            if a_terms is not None and b_terms is not None:
                found = _collected(a_terms + b_terms)
                if found is not None:
                    return found
    return None


def _negative_scale(a: Expr, b: Expr, second: int) -> Expr | None:
    """``a + b`` (``a - b``) with a negative coefficient of ``b`` (or, in a sum, of ``a``) made positive."""
    for other, scaled in ((a, b), (b, a)) if second == 1 else ((a, b),):
        if scaled.op is MUL:
            c, rest = scaled.args
            if c.op is CONST and rest.op is not CONST and c.param < 0:
                return make(SUB if second == 1 else ADD, (other, make(MUL, (const(-c.param), rest))))
    return None


def sum_rule(name: str, collect: bool = True) -> Rule:
    """The rule every ``add`` (``sub``) node is offered: ``x + x → 2*x``, a negative coefficient
    written as a subtraction (exact: ``(-c)*x`` is ``-(c*x)``), like terms collected (``collect``;
    not exact, so ``rewrites="exact"`` uses the rule made without it), and for ``add`` its
    arguments in canonical order. One rule, as every sum meets it: calls are the cost."""
    second = 1 if name == "add" else -1

    @rule(f"{name}: like terms, canonical order", None, exact=not collect)
    def rewrite(args: tuple[Expr, ...], _param: Any) -> Any:
        a, b = args
        if b.op is MUL or (a.op is MUL and second == 1):
            found = _negative_scale(a, b, second)
            if found is not None:
                return NEGATIVE_SCALE[name], found
        if a is b:
            if second == 1:
                return TWICE, make(MUL, (const(2), a))
            if collect:
                return CANCEL, const(0.0)  # assumes x finite, as 0*x → 0 does
        if collect and _may_share_a_base(a, b):
            found = _like_terms(a, b, second)
            if found is not None:
                return LIKE_TERMS, found
        # (a is b returned above; a constant first is in order, the usual case, asked without a call)
        if second == 1 and (a.op is not CONST or b.op is CONST) and precedes(b, a):
            # Every rule of add treats its two arguments alike: the swapped node needs none again.
            return ORDERED[name], intern_node(ADD, (b, a))
        return None

    if collect:
        rewrite.exact_variant = sum_rule(name, collect=False)  # type: ignore[attr-defined]
    return rewrite


@rule("mul: powers, canonical order", None)
def product_rule(args: tuple[Expr, ...], _param: Any) -> Any:
    """The rule every ``mul`` node is offered: ``x*x → x**2``, ``x**2*x → x**3`` (exact: they
    print as the same products), and its arguments in canonical order."""
    a, b = args
    if a is b:
        return (SQUARE, make(POWI, (a,), 2)) if a.op is not CONST else None
    if a.op is POWI and a.param == 2 and a.args[0] is b:
        return CUBE, make(POWI, (b,), 3)
    if b.op is POWI and b.param == 2 and b.args[0] is a:
        return CUBE, make(POWI, (a,), 3)
    if (a.op is not CONST or b.op is CONST) and precedes(b, a):  # a constant first is in order
        # Every rule of mul treats its two arguments alike: the swapped node needs none again.
        return ORDERED["mul"], intern_node(MUL, (b, a))
    return None


# What ``sub`` adds to its entry's rules (one name, so its entry changes in one place).
SUB_RULES = (sum_rule("sub"),)


@rule("-(x/c) → x/(-c)", ("div",))
def signs(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    """A negation folded into a constant divisor (exact), which saves the negation. Not into a
    constant factor: reverse mode subtracts a negated adjoint where it sums it (symgrad.grad)."""
    (a,) = args
    if a.op is DIV:
        rest, c = a.args
        if c.op is CONST and rest.op is not CONST:
            return make(DIV, (rest, const(-c.param)))
    return None


@rule("(1/a)*b → b/a", ("div",), exact=False)
def reciprocal(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    """A product with a reciprocal as one division: one operation and one rounding fewer (so not
    exact: it is the more accurate). Reverse mode makes it of every ``log`` and ``x/y``."""
    a, b = args
    for inverse, other in ((a, b), (b, a)):
        if inverse.op is DIV and inverse.args[0].op is CONST and inverse.args[0].param == 1:
            return make(DIV, (other, inverse.args[1]))
    return None
