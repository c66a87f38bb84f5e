"""THE primitive table: each primitive declared once, with everything about it.

An entry gives the op's name and arity, its graph label, how it prints as
scalar Python (a template over ``math``), its SymPy mapping, its numeric
value (for constant folding), its local rewrites, and its derivative rule —
a vector-Jacobian product written with symgrad operations, so derivatives
can be differentiated again. Adding an op is one ``_register(Op(...))``
here plus its tests; compiler passes read these fields and never test an
op by name.

``Op``, the table itself and the usual printers are in ``symgrad.core``; the leaves (symbol,
const) are declared with the graph, in ``symgrad.expr``; the everyday functions beyond these
(``log1p``, ``softplus``, ``where``, ``atan2``...) in ``symgrad.special``, and the stabilising
rewrites listed in the ``log``, ``sub`` and ``sqrt`` entries in ``symgrad.stabilise``; the plain
functions the entries bind (sigmoid, the param checks, ``sympy_power``) in ``symgrad.numerics``;
how a rewrite rule is declared in ``symgrad.rules``; ``sg.primitive``, which adds user ops to the
table, in ``symgrad.primitives`` (the table's functions are importable from here as before).

Conventions (decided once, tested): relu'(0) = 0 and |x|'(0) = 0, as in
micrograd, PyTorch and SymPy's ``sign``. ``x**k`` with an integer constant
``k``, ``x**c`` with a real constant ``c`` and ``x**y`` with an expression
exponent are three ops with their own rule and domain; ``d(x**y)/dy`` is
``x**y * log(x)``, taken as 0 where ``x**y == 0`` (``xlogy``).
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from symgrad import algebra, numerics, stabilise
from symgrad.arithmetic import give_operators
from symgrad.core import _TABLE as _TABLE  # the table itself, read by tests
from symgrad.core import (
    ADD,
    ATOM,
    COND,
    MUL,
    POW,
    UNARY,
    LatexTemplate,
    Op,
    Template,
    _register,
    array_call_printer,
    call_printer,
    call_template,
    fixed_label,
    fixed_printer,
    infix_printer,
    latex_function,
    latex_printer,
)
from symgrad.core import all_ops as all_ops  # re-exported: the table is read through symgrad.ops
from symgrad.core import by_name as by_name
from symgrad.expr import CONST, Expr, as_expr, const, is_array, make
from symgrad.expr import SYMBOL as SYMBOL  # the leaves are declared with the graph, in symgrad.expr
from symgrad.literals import as_number, format_number, latex_number
from symgrad.numerics import sympy_power
from symgrad.rules import Rule, drop_unit, is_number, rule

# ---- rewrite rules (used by symgrad.simplify through each op's ``rewrites``) --------


@rule("0*x → 0", (0,), exact=False)
def _mul_by_zero(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    # Assumes x is finite (0*inf is nan): the documented price of this identity.
    for i, other in ((0, 1), (1, 0)):
        if is_number(args[i], 0) and not is_number(args[other]):
            return args[i]
    return None


@rule("-1*x → -x", (-1,))
def _mul_by_minus_one(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    if is_number(args[0], -1):
        return neg(args[1])
    if is_number(args[1], -1):
        return neg(args[0])
    return None


@rule("--x → x", ("neg",))
def _double_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return args[0].args[0] if args[0].op is neg else None


def _negation_outwards(symbol: str) -> Rule:
    # Exact in IEEE arithmetic, and it lets negations meet and cancel in add/sub.
    @rule(f"(-a){symbol}b → -(a{symbol}b)", ("neg",))
    def rewrite(args: tuple[Expr, ...], _param: Any) -> Expr | None:
        a, b = args
        if a.op is neg and b.op is neg:
            return _BINARY[symbol](a.args[0], b.args[0])
        if a.op is neg:
            return neg(_BINARY[symbol](a.args[0], b))
        if b.op is neg:
            return neg(_BINARY[symbol](a, b.args[0]))
        return None

    return rewrite


@rule("a + -b → a - b", ("neg",))
def _add_of_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    a, b = args
    if b.op is neg:
        return sub(a, b.args[0])
    if a.op is neg:
        return sub(b, a.args[0])
    return None


@rule("a - -b → a + b", ("neg",))
def _sub_of_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return add(args[0], args[1].args[0]) if args[1].op is neg else None


@rule("0 - x → -x", (0,), exact=False)  # 0 - 0.0 is 0.0, -0.0 is -0.0
def _zero_minus(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return neg(args[1]) if is_number(args[0], 0) else None


@rule("x**1 → x", (), params=(1,))
def _power_one(args: tuple[Expr, ...], k: int) -> Expr | None:
    return args[0] if k == 1 else None


@rule("x**0 → 1", (), params=(0,))
def _power_zero(args: tuple[Expr, ...], k: int) -> Expr | None:
    return const(1.0) if k == 0 else None


def _int_power_template(k: int) -> Template:
    if k == 0:
        return Template("1.0", (ATOM,), ATOM)
    if k == 1:
        return Template("{0}", (ATOM,), ATOM)
    if k in (2, 3):
        # A product is faster than ** in CPython, and gives inf where ** raises.
        return Template(" * ".join(["{0}"] * k), (ATOM,), MUL)
    if k == -1:
        return Template("1.0 / {0}", (UNARY,), MUL)
    if k == -2:
        return Template("1.0 / ({0} * {0})", (ATOM,), MUL)
    return Template(f"{{0}} ** {k}", (ATOM,), POW)


def _real_power_template(c: float) -> Template:
    if c == 0.5:
        return call_template("sqrt", 1)
    return Template(f"pow({{0}}, {format_number(c)})", (0,), ATOM)


def _real_power_array_template(c: float) -> Template:
    if c == 0.5:
        return call_template("xp.sqrt", 1)
    return Template(f"xp.pow({{0}}, {format_number(c)})", (0,), ATOM)


def _latex_power(p: Any) -> LatexTemplate:
    if p == 0.5 and type(p) is float:
        return LatexTemplate(r"\sqrt{#0}", (0,), ATOM)
    return LatexTemplate(f"#0^{{{latex_number(p)}}}", (ATOM,), POW)


def _superscript(p: Any) -> str:
    return f"**{format_number(p)}"


# ---- arithmetic ---------------------------------------------------------------------

add = _register(Op(
    "add", 2, label=fixed_label("+"), printer=infix_printer("+", ADD),
    latex=latex_printer("#0 + #1", (ADD, ADD + 1), ADD),
    sympy=lambda sp, a, b: a + b,
    vjp=lambda g, out, a, b: (g, g),
    impl=lambda a, b: a + b,
    # x + 0 → x is not exact for x = -0.0 (-0.0 + 0 is 0.0).
    rewrites=(drop_unit(0, "left right", "x + 0 → x", exact=False), _add_of_negation, algebra.sum_rule("add")),
))
sub = _register(Op(
    "sub", 2, label=fixed_label("-"), printer=infix_printer("-", ADD),
    latex=latex_printer("#0 - #1", (ADD, ADD + 1), ADD),
    sympy=lambda sp, a, b: a - b,
    vjp=lambda g, out, a, b: (g, -g),
    impl=lambda a, b: a - b,
    rewrites=(drop_unit(0, "right", "x - 0 → x"), _zero_minus, _sub_of_negation, *stabilise.SUB,
              *algebra.SUB_RULES),
))
mul = _register(Op(
    "mul", 2, label=fixed_label("*"), printer=infix_printer("*", MUL),
    latex=latex_printer(r"#0 \cdot #1", (MUL, MUL + 1), MUL),
    sympy=lambda sp, a, b: a * b,
    vjp=lambda g, out, a, b: (g * b, g * a),
    impl=lambda a, b: a * b,
    rewrites=(drop_unit(1, "left right", "x * 1 → x"), _mul_by_zero, _mul_by_minus_one,
              _negation_outwards("*"), algebra.scales, algebra.reciprocal,
              algebra.product_rule),
))
div = _register(Op(
    "div", 2, label=fixed_label("/"), printer=infix_printer("/", MUL),
    latex=latex_printer(r"\frac{#0}{#1}", (0, 0), UNARY),  # a fraction reads as one term, but for powers
    sympy=lambda sp, a, b: a / b,
    vjp=lambda g, out, a, b: (g / b, -g * out / b),
    impl=lambda a, b: a / b,
    rewrites=(drop_unit(1, "right", "x / 1 → x"), _negation_outwards("/")),
))
_BINARY = {"*": mul, "/": div}
neg = _register(Op(
    "neg", 1, label=fixed_label("-"), printer=fixed_printer(Template("-{0}", (UNARY,), UNARY)),
    latex=latex_printer("-#0", (UNARY,), UNARY),
    sympy=lambda sp, a: -a,
    vjp=lambda g, out, a: (-g,),
    impl=lambda a: -a,
    rewrites=(_double_negation, algebra.signs),
))
# The three power ops. Their op names ("powi", "powc", "pow", as LLVM's powi) are what pickles
# and error messages carry, so they stay; the Python names say which exponent each takes.
int_power: Op = _register(Op(
    "powi", 1, label=_superscript, printer=_int_power_template, latex=_latex_power,
    sympy=lambda sp, a, k: sympy_power(sp, a, sp.Integer(k)),
    vjp=lambda g, out, a, k: (g * (k * (a if k == 2 else make(int_power, (a,), k - 1))),),
    impl=lambda a, k: a**k,
    rewrites=(_power_one, _power_zero),
    doc="x**k for an integer constant k (the param).",
    param_check=numerics.check_integer_exponent,
))
real_power: Op = _register(Op(
    "powc", 1, label=_superscript, printer=_real_power_template, latex=_latex_power,
    array_printer=_real_power_array_template,
    sympy=lambda sp, a, c: sympy_power(sp, a, sp.Float(c)),
    vjp=lambda g, out, a, c: (g * (c * make(real_power, (a,), c - 1.0)),),
    impl=lambda a, c: math.pow(a, c),
    namespace={"pow": math.pow, "sqrt": math.sqrt},
    domain="positive",
    doc="x**c for a real, non-integer constant c (the param); math.pow semantics.",
    param_check=numerics.check_real_exponent,
))
algebra.use_ops(add, sub, mul, neg, int_power, div)
xlogy = _register(Op(
    "xlogy", 2, label=fixed_label("xlogy"),
    printer=fixed_printer(Template("0.0 if {0} == 0.0 else {0} * log({1})", (ATOM, 0), COND)),
    latex=latex_printer(r"#0 \log\left(#1\right)", (MUL, 0), MUL),
    array_printer=fixed_printer(Template("xp.where({0} == 0.0, 0.0, {0} * xp.log({1}))", (ATOM, 0), ATOM)),
    sympy=lambda sp, a, b: a * sp.log(b),
    vjp=lambda g, out, a, b: (g * log(b), g * (a / b)),
    impl=numerics.xlogy,
    namespace={"log": math.log},
    domain="positive",
    doc="a*log(b), and 0 where a == 0: the exponent rule of x**y at x == 0.",
))
expr_power: Op = _register(Op(
    "pow", 2, label=fixed_label("**"), printer=call_printer("pow", 2),
    latex=latex_printer("#0^{#1}", (ATOM, 0), POW),
    array_printer=array_call_printer("pow", 2),
    sympy=sympy_power,
    vjp=lambda g, out, a, b: (g * (b * expr_power(a, b - 1.0)), g * xlogy(out, a)),
    impl=math.pow,
    namespace={"pow": math.pow},
    domain="positive",
    doc="x**y with an expression exponent (math.pow: a negative base is a domain error).",
))

# ---- elementary functions -------------------------------------------------------------

exp = _register(Op(
    "exp", 1, label=fixed_label("exp"), printer=call_printer("exp"),
    latex=latex_printer("e^{#0}", (0,), POW),
    array_printer=array_call_printer("exp"),
    sympy=lambda sp, a: sp.exp(a),
    vjp=lambda g, out, a: (g * out,),
    impl=math.exp, namespace={"exp": math.exp},
))
log: Op = _register(Op(
    "log", 1, label=fixed_label("log"), printer=call_printer("log"), latex=latex_function(r"\log"),
    array_printer=array_call_printer("log"),
    sympy=lambda sp, a: sp.log(a),
    vjp=lambda g, out, a: (g / a,),
    impl=math.log, namespace={"log": math.log}, domain="positive",
    rewrites=stabilise.LOG,
))
sqrt = _register(Op(
    "sqrt", 1, label=fixed_label("sqrt"), printer=call_printer("sqrt"),
    latex=latex_printer(r"\sqrt{#0}", (0,), ATOM),
    array_printer=array_call_printer("sqrt"),
    sympy=lambda sp, a: sp.sqrt(a),
    vjp=lambda g, out, a: (g * (0.5 / out),),
    impl=math.sqrt, namespace={"sqrt": math.sqrt}, domain="positive",
    rewrites=stabilise.SQRT,
))
sin = _register(Op(
    "sin", 1, label=fixed_label("sin"), printer=call_printer("sin"), latex=latex_function(r"\sin"),
    array_printer=array_call_printer("sin"),
    sympy=lambda sp, a: sp.sin(a),
    vjp=lambda g, out, a: (g * cos(a),),
    impl=math.sin, namespace={"sin": math.sin},
))
cos: Op = _register(Op(
    "cos", 1, label=fixed_label("cos"), printer=call_printer("cos"), latex=latex_function(r"\cos"),
    array_printer=array_call_printer("cos"),
    sympy=lambda sp, a: sp.cos(a),
    vjp=lambda g, out, a: (-(g * sin(a)),),
    impl=math.cos, namespace={"cos": math.cos},
))
# The slopes of tanh and sigmoid from e = exp(-|x|) (of 2|x| for tanh): 1 - t*t and s*(1 - s)
# cancel where t or s is near 1, losing all relative precision by |x| = 20 (tanh) or 37 (sigmoid).


def _sech_squared(a: Expr) -> Expr:
    e = exp(abs(a) * -2.0)
    return e * 4.0 / ((1.0 + e) * (1.0 + e))


def _sigmoid_slope(a: Expr, out: Expr) -> Expr:
    return out * sigmoid(-a)


tanh = _register(Op(
    "tanh", 1, label=fixed_label("tanh"), printer=call_printer("tanh"), latex=latex_function(r"\tanh"),
    array_printer=array_call_printer("tanh"),
    sympy=lambda sp, a: sp.tanh(a),
    vjp=lambda g, out, a: (g * _sech_squared(a),),
    impl=math.tanh, namespace={"tanh": math.tanh},
))
sigmoid = _register(Op(
    "sigmoid", 1, label=fixed_label("sigmoid"),
    # numerics.sigmoid's two branches written inline (the same values; a call of it costs more):
    # neither exp can overflow, and each side keeps its relative precision.
    printer=fixed_printer(Template("1.0 / (1.0 + exp(-{0})) if {0} >= 0.0 else exp({0}) / (1.0 + exp({0}))",
                                   (ATOM,), COND)),
    latex=latex_function(r"\sigma"),
    # A helper, since it reads exp(-|x|) twice: still one exp (tanh costs more and loses relative
    # precision below x = -37), and exact to the smallest subnormal, unlike exp of a clipped -x.
    array_printer=fixed_printer(Template("sigmoid(xp, {0})", (0,), ATOM)),
    sympy=lambda sp, a: 1 / (1 + sp.exp(-a)),
    vjp=lambda g, out, a: (g * _sigmoid_slope(a, out),),
    impl=numerics.sigmoid, namespace={"exp": math.exp},
    array_namespace={"sigmoid": numerics.array_sigmoid},
))


def _piecewise_constant(g: Any, out: Any, a: Any) -> tuple[None]:
    # Flat on each side of its jump: no dependence to send back (the jump itself is measure zero).
    return (None,)


step = _register(Op(
    "step", 1, label=fixed_label("step"),
    printer=fixed_printer(Template("1.0 if {0} > 0.0 else 0.0", (ATOM,), COND)),
    array_printer=fixed_printer(Template("xp.astype({0} > 0.0, xp.float64)", (ADD,), ATOM)),
    sympy=lambda sp, a: sp.Piecewise((1, a > 0), (0, True)),
    vjp=_piecewise_constant,
    impl=numerics.step,
    doc="1 for x > 0, else 0 (so step(0) = 0): the derivative of relu.",
))
sign = _register(Op(
    "sign", 1, label=fixed_label("sign"),
    printer=fixed_printer(Template("1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else 0.0)", (ATOM,), COND)),
    array_printer=array_call_printer("sign"),
    sympy=lambda sp, a: sp.sign(a),
    vjp=_piecewise_constant,
    impl=numerics.sign,
    doc="-1, 0 or 1 (sign(0) = 0): the derivative of abs.",
))
relu = _register(Op(
    "relu", 1, label=fixed_label("relu"),
    printer=fixed_printer(Template("{0} if {0} > 0.0 else 0.0", (ATOM,), COND)),
    array_printer=fixed_printer(Template("xp.maximum({0}, 0.0)", (0,), ATOM)),
    sympy=lambda sp, a: sp.Piecewise((a, a > 0), (0, True)),
    vjp=lambda g, out, a: (g * step(a),),
    impl=numerics.relu,
    doc="max(x, 0); relu'(0) = 0.",
))
abs = _register(Op(  # noqa: A001  (sg.abs is the user's name for it)
    "abs", 1, label=fixed_label("abs"), printer=call_printer("abs"),
    latex=latex_printer(r"\left|#0\right|", (0,), ATOM),
    array_printer=array_call_printer("abs"),
    sympy=lambda sp, a: sp.Abs(a),
    vjp=lambda g, out, a: (g * sign(a),),
    impl=builtins.abs, namespace={"abs": builtins.abs},
    doc="|x|; |x|'(0) = 0.",
))


_EXACT_INTEGER = 2**53


def number_power(exponent: int | float) -> tuple[Op, int | float]:
    """The op and param for a number exponent: ``int_power`` for integral values, else ``real_power``."""
    number = as_number(exponent, "** exponent")
    integral = math.isfinite(number) and float(number).is_integer() and builtins.abs(number) < _EXACT_INTEGER
    if isinstance(number, int) or integral:
        return int_power, int(number)
    return real_power, number


def power(base: Any, exponent: Any) -> Expr:
    """``base ** exponent``, choosing ``int_power``, ``real_power`` or ``expr_power`` by the exponent.

    An integral exponent (``2`` or ``2.0``) is ``int_power``; another number is
    ``real_power``; an expression is ``expr_power``.
    """
    if type(base) is Expr and type(exponent) is int and exponent.bit_length() <= 53:  # the hot path: x**2
        return make(int_power, (base,), exponent)
    if is_array(exponent) or is_array(base):
        return NotImplemented  # type: ignore[no-any-return]  # NumPy's reflected operator applies it element-wise
    if type(base) is not Expr:
        base = as_expr(base, "** base")
    if type(exponent) is int and exponent.bit_length() <= 53:
        return make(int_power, (base,), exponent)
    if isinstance(exponent, Expr) and exponent.op is CONST:
        exponent = exponent.param
    if isinstance(exponent, Expr):
        return expr_power(base, exponent)  # type: ignore[no-any-return]  # base is an Expr by now
    op, param = number_power(exponent)
    return make(op, (base,), param)


# ---- Expr's operators -------------------------------------------------------------------
# The graph (symgrad.expr) knows no op but its leaves: Expr's operators are given here, by the one
# writing of them (symgrad.arithmetic) that also serves Value. Python numbers on either side
# become constants.


def _binary(op: Op, a: Any, b: Any) -> Expr:
    # The hot path of building graphs: skip the generic argument handling.
    try:
        if type(a) is not Expr:
            a = as_expr(a, op.name)
        if type(b) is not Expr:
            b = as_expr(b, op.name)
    except TypeError:
        if is_array(a) or is_array(b):
            return NotImplemented  # type: ignore[no-any-return]  # NumPy's reflected operator applies the op element-wise
        raise
    return make(op, (a, b))


def _unary(op: Op, a: Expr) -> Expr:
    return make(op, (a,))


# The ops users call as functions: sg.exp(x), sg.relu(x), ... (and as methods: x.relu(), ...)
FUNCTIONS: dict[str, Op] = {
    op.name: op
    for op in (exp, log, sqrt, sin, cos, tanh, sigmoid, relu, abs)
}
# The ops of Python's operators, by the name of their dunder (see symgrad.arithmetic).
OPERATORS: dict[str, Op] = {"add": add, "sub": sub, "mul": mul, "truediv": div, "neg": neg, "abs": abs}

give_operators(Expr, OPERATORS, FUNCTIONS, binary=_binary, unary=_unary, power=power)
