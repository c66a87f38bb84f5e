"""The everyday functions beyond ``symgrad.ops``' core: stable logs and exps, comparisons and
``where``, the inverse and hyperbolic trigonometric functions, ``erf``, and rounding.

Each is one ``_register(Op(...))`` in the same table as the core ops (derivative, printing for
both backends, SymPy mapping, domain), so every pass and test reads it from there. The stabilising
rewrites that make these ops from what users write (``log(sigmoid(x)) → log_sigmoid(x)``...) are in
``symgrad.stabilise``. Comparisons (``x > 0``) build 0/1-valued condition nodes, for ``where``.

Conventions (decided once, tested): ``maximum``/``minimum`` send the gradient of a tie to their
second argument (so ``maximum(x, 0)`` is ``relu``, whose slope at 0 is 0); ``clip`` sends it to
``x`` at the bounds (as PyTorch's ``clamp``); ``floor``, ``ceil``, ``round`` and the comparisons
have derivative 0 (their jumps are measure zero); ``where`` may compute the branch it does not take.
"""

from __future__ import annotations

import math
from typing import Any

from symgrad import numerics
from symgrad.arithmetic import give_methods
from symgrad.core import (
    ADD,
    ATOM,
    COMPARE,
    COND,
    UNARY,
    Op,
    Template,
    _register,
    array_call_printer,
    call_printer,
    call_template,
    fixed_label,
    fixed_printer,
)
from symgrad.expr import Expr, as_expr, make
from symgrad.ops import FUNCTIONS as CORE_FUNCTIONS
from symgrad.ops import _binary, _unary, exp, sigmoid, sqrt
from symgrad.rules import is_number, rule
from symgrad.stabilise import logsumexp_tree

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _math_op(name: str, impl: Any, vjp: Any, sympy: Any, arity: int = 1, domain: str = "real", doc: str = "") -> Op:
    """An op printed as a call of ``impl`` (``math``'s function of its name), and of the array
    namespace's function of that name."""
    return _register(Op(
        name, arity, label=fixed_label(name), printer=call_printer(name, arity),
        array_printer=array_call_printer(name, arity),
        sympy=sympy, vjp=vjp, impl=impl, namespace={name: impl}, domain=domain, doc=doc,
    ))


def _no_dependence(g: Any, out: Any, *args: Any) -> tuple[None, ...]:
    # Piecewise constant: flat on each side of a jump, and the jump is measure zero.
    return (None,) * len(args)


# ---- logs and exps that keep their precision ---------------------------------------------------

log1p = _math_op("log1p", math.log1p, lambda g, out, a: (g / (1.0 + a),),
                  lambda sp, a: sp.log(1 + a), domain="unit", doc="log(1 + x), precise for small x.")
expm1 = _math_op("expm1", math.expm1, lambda g, out, a: (g * exp(a),),
                  lambda sp, a: sp.exp(a) - 1, doc="exp(x) - 1, precise for small x.")
softplus = _register(Op(
    "softplus", 1, label=fixed_label("softplus"),
    # numerics.softplus's values, each side's branch written out: no abs to call, no 0.0 to add.
    printer=fixed_printer(Template("{0} + log1p(exp(-{0})) if {0} > 0.0 else log1p(exp({0}))", (ATOM,), COND)),
    array_printer=fixed_printer(Template("xp.logaddexp(0.0, {0})", (0,), ATOM)),
    sympy=lambda sp, a: sp.log(1 + sp.exp(a)),
    vjp=lambda g, out, a: (g * sigmoid(a),),
    impl=numerics.softplus, namespace={"log1p": math.log1p, "exp": math.exp},
    doc="log(1 + exp(x)), never overflowing: max(x, 0) + log1p(exp(-|x|)).",
))
log_sigmoid = _register(Op(
    "log_sigmoid", 1, label=fixed_label("log_sigmoid"),
    # numerics.log_sigmoid's values (0.0 - v, not -v: +0.0 where exp(-x) underflows), each side's branch
    # written out.
    printer=fixed_printer(Template("{0} - log1p(exp({0})) if {0} < 0.0 else 0.0 - log1p(exp(-{0}))", (ATOM,), COND)),
    array_printer=fixed_printer(Template("-xp.logaddexp(0.0, -{0})", (UNARY,), UNARY)),
    sympy=lambda sp, a: -sp.log(1 + sp.exp(-a)),
    vjp=lambda g, out, a: (g * sigmoid(-a),),
    impl=numerics.log_sigmoid, namespace={"log1p": math.log1p, "exp": math.exp},
    doc="log(sigmoid(x)) = -softplus(-x), finite for every finite x.",
))


@rule("logaddexp(0, x) → softplus(x)", (0,), exact=False)
def _logaddexp_of_zero(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    for zero, x in (args, reversed(args)):
        if is_number(zero, 0):
            return softplus(x)
    return None


logaddexp = _register(Op(
    "logaddexp", 2, label=fixed_label("logaddexp"),
    # numerics.logaddexp written inline (the same values; a call of it costs more).
    printer=fixed_printer(Template(f"{{0}} + {numerics.LOG_2!r} if {{0}} == {{1}} else "
                                   "({0} + log1p(exp({1} - {0})) if {0} > {1} else {1} + log1p(exp({0} - {1})))",
                                   (ATOM, ATOM), COND)),
    array_printer=array_call_printer("logaddexp", 2),
    sympy=lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)),
    vjp=lambda g, out, a, b: (g * sigmoid(a - b), g * sigmoid(b - a)),
    impl=numerics.logaddexp, namespace={"log1p": math.log1p, "exp": math.exp},
    rewrites=(_logaddexp_of_zero,),
    doc="log(exp(a) + exp(b)), shifted by the larger argument so it never overflows.",
))


def logsumexp(*terms: Any) -> Expr:
    """``log(exp(x1) + ... + exp(xn))`` without overflow: a balanced tree of ``logaddexp`` nodes,
    each shifted by its larger argument (``log(sum(exp(x) for x in xs))`` compiles to the same)."""
    return logsumexp_tree([as_expr(t, "logsumexp") for t in terms])


# ---- comparisons, where, and the piecewise-linear functions -------------------------------------


def _comparison(name: str, symbol: str, impl: Any, sympy: Any) -> Op:
    return _register(Op(
        name, 2, label=fixed_label(symbol),
        printer=fixed_printer(Template(f"1.0 if {{0}} {symbol} {{1}} else 0.0", (ADD, ADD), COND)),
        array_printer=fixed_printer(Template(f"xp.astype({{0}} {symbol} {{1}}, xp.float64)", (ADD, ADD), ATOM)),
        sympy=lambda sp, a, b: sp.Piecewise((1, sympy(a, b)), (0, True)),
        vjp=_no_dependence, impl=impl, text=Template(f"{{0}} {symbol} {{1}}", (ADD, ADD), COMPARE),
        doc=f"1 where a {symbol} b, else 0: a condition, for where(); what `a {symbol} b` builds.",
    ))


greater = _comparison("greater", ">", numerics.greater, lambda a, b: a > b)
greater_equal = _comparison("greater_equal", ">=", numerics.greater_equal, lambda a, b: a >= b)
where = _register(Op(
    "where", 3, label=fixed_label("where"),
    printer=fixed_printer(Template("{1} if {0} else {2}", (ADD, ADD, ADD), COND)),
    array_printer=fixed_printer(Template("xp.where({0} != 0.0, {1}, {2})", (ADD, 0, 0), ATOM)),
    sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
    vjp=lambda g, out, c, a, b: (None, _where(c, g, 0.0), _where(c, 0.0, g)),
    impl=numerics.where, text=call_template("where", 3),
    doc="a where the condition is nonzero (x > 0 builds one), else b; the branch not taken may be computed too.",
))


def _extremum(name: str, symbol: str, impl: Any, sympy_name: str, first_wins: Any) -> Op:
    """maximum or minimum: ``a`` where ``first_wins(a, b)`` (a condition node), else ``b``."""

    def pullback(g: Expr, out: Expr, a: Expr, b: Expr) -> tuple[Expr, Expr]:
        wins = first_wins(a, b)
        return g * wins, g * (1.0 - wins)

    return _register(Op(
        name, 2, label=fixed_label(name),
        printer=fixed_printer(Template(f"{{0}} if {{0}} {symbol} {{1}} else {{1}}", (ATOM, ATOM), COND)),
        array_printer=array_call_printer(name, 2),
        sympy=lambda sp, a, b: getattr(sp, sympy_name)(a, b), vjp=pullback, impl=impl,
        doc=f"the {'larger' if symbol == '>' else 'smaller'} of a and b; at a tie the gradient goes to b.",
    ))


maximum = _extremum("maximum", ">", lambda a, b: a if a > b else b, "Max", lambda a, b: greater(a, b))
minimum = _extremum("minimum", "<", lambda a, b: a if a < b else b, "Min", lambda a, b: greater(b, a))
clip = _register(Op(
    "clip", 3, label=fixed_label("clip"), printer=call_printer("clip", 3), array_printer=array_call_printer("clip", 3),
    sympy=lambda sp, x, low, high: sp.Min(sp.Max(x, low), high),
    vjp=lambda g, out, x, low, high: _clip_pullback(g, x, low, high),
    impl=numerics.clip, namespace={"clip": numerics.clip},
    doc="min(max(x, low), high) (so high where low > high, as NumPy's); at a bound the gradient goes to x.",
))


def _clip_pullback(g: Expr, x: Expr, low: Expr, high: Expr) -> tuple[Expr, Expr, Expr]:
    # Which argument the value is: x inside [low, high], low below it, high otherwise.
    inside = greater_equal(x, low) * greater_equal(high, x)
    below = greater(low, x) * greater_equal(high, low)
    return g * inside, g * below, g * (1.0 - inside - below)


def _where(condition: Expr, a: Any, b: Any) -> Expr:
    return make(where, (condition, as_expr(a), as_expr(b)))


# ---- trigonometric, hyperbolic, erf, hypot ---------------------------------------------------

tan = _math_op("tan", math.tan, lambda g, out, a: (g * (1.0 + out * out),), lambda sp, a: sp.tan(a))
atan = _math_op("atan", math.atan, lambda g, out, a: (g / (1.0 + a * a),), lambda sp, a: sp.atan(a))
asin = _math_op("asin", math.asin, lambda g, out, a: (g / sqrt(1.0 - a * a),), lambda sp, a: sp.asin(a),
                 domain="unit")
acos = _math_op("acos", math.acos, lambda g, out, a: (-(g / sqrt(1.0 - a * a)),), lambda sp, a: sp.acos(a),
                 domain="unit")
sinh: Op = _math_op("sinh", math.sinh, lambda g, out, a: (g * cosh(a),), lambda sp, a: sp.sinh(a))
cosh: Op = _math_op("cosh", math.cosh, lambda g, out, a: (g * sinh(a),), lambda sp, a: sp.cosh(a))
erf = _register(Op(
    "erf", 1, label=fixed_label("erf"), printer=call_printer("erf"),
    array_printer=fixed_printer(Template("erf(xp, {0})", (0,), ATOM)),
    sympy=lambda sp, a: sp.erf(a),
    vjp=lambda g, out, a: (g * (_TWO_OVER_SQRT_PI * exp(-(a * a))),),
    impl=math.erf, namespace={"erf": math.erf}, array_namespace={"erf": numerics.array_erf},
))
atan2 = _math_op("atan2", math.atan2, lambda g, out, y, x: (g * x / (x * x + y * y), -(g * y) / (x * x + y * y)),
                 lambda sp, y, x: sp.atan2(y, x), arity=2,
                 doc="the angle of the point (x, y), for atan2(y, x), as math's.")
hypot = _math_op("hypot", math.hypot, lambda g, out, a, b: (g * (a / out), g * (b / out)),
                 lambda sp, a, b: sp.sqrt(a * a + b * b), arity=2,
                 doc="sqrt(a*a + b*b) without overflow or underflow in the squares.")


# ---- rounding: derivative 0 ------------------------------------------------------------------

floor = _math_op("floor", numerics.floor, _no_dependence, lambda sp, a: sp.floor(a),
                 doc="the largest integer ≤ x, as a float; derivative 0.")
ceil = _math_op("ceil", numerics.ceil, _no_dependence, lambda sp, a: sp.ceiling(a),
                doc="the smallest integer ≥ x, as a float; derivative 0.")
round = _math_op(  # noqa: A001  (sg.round is the user's name for it)
    "round", numerics.round_half_even, _no_dependence, lambda sp, a: sp.floor(a + sp.Rational(1, 2)),
    doc="x rounded to the nearest integer, ties to even (as Python and NumPy), as a float; derivative 0. "
        "Its SymPy image, floor(x + 1/2), differs at ties only.")


# ---- how users reach them ----------------------------------------------------------------------

# Functions of expressions by name: sg.log1p(x), sg.where(c, a, b), ... and the parser's whitelist.
FUNCTIONS: dict[str, Any] = {
    **CORE_FUNCTIONS,
    **{op.name: op for op in (log1p, expm1, softplus, log_sigmoid, logaddexp, where, maximum, minimum, clip,
                              tan, atan, atan2, asin, acos, sinh, cosh, erf, hypot, floor, ceil, round)},
    "logsumexp": logsumexp,
}
# Methods of Expr and micrograd's Value beyond the core ones: x.softplus(), v.log1p(), ...
METHODS: dict[str, Op] = {
    op.name: op for op in (log1p, expm1, softplus, log_sigmoid, tan, atan, asin, acos, sinh, cosh, erf)
}
give_methods(Expr, METHODS, _unary)


def _compare(op: Op, swapped: bool) -> Any:
    return lambda self, other: _binary(op, other, self) if swapped else _binary(op, self, other)


# ``x > 0`` builds a condition node; ``bool()`` of one still raises (symgrad.expr).
Expr.__gt__ = _compare(greater, False)  # type: ignore[method-assign]
Expr.__ge__ = _compare(greater_equal, False)  # type: ignore[method-assign]
Expr.__lt__ = _compare(greater, True)  # type: ignore[method-assign]
Expr.__le__ = _compare(greater_equal, True)  # type: ignore[method-assign]

