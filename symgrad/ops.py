"""THE primitive table: each primitive declared once, with everything about it.

An entry gives the op's name and arity, its graph label, how it prints as
scalar Python (a template over ``math``), its SymPy mapping, its numeric
value (for constant folding), its local rewrites, and its derivative rule —
a vector-Jacobian product written with symgrad operations, so derivatives
can be differentiated again. Adding an op is one ``_register(Op(...))``
here plus its tests; compiler passes read these fields and never test an
op by name.

``Op`` and the table itself are in ``symgrad.core``; the leaves (symbol, const)
are declared with the graph, in ``symgrad.expr``; all are importable from here as before.

Conventions (decided once, tested): relu'(0) = 0 and |x|'(0) = 0, as in
micrograd, PyTorch and SymPy's ``sign``. ``x**k`` with an integer constant
``k``, ``x**c`` with a real constant ``c`` and ``x**y`` with an expression
exponent are three ops with their own rule and domain; ``d(x**y)/dy`` is
``x**y * log(x)``, taken as 0 where ``x**y == 0`` (``xlogy``).
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import math
from collections.abc import Callable
from typing import Any

from symgrad.arithmetic import bind_functions, use_ops
from symgrad.core import _TABLE, ADD, ATOM, COND, MUL, POW, UNARY, Op, Template, _register, call_template
from symgrad.core import all_ops as all_ops  # re-exported: the table is read through symgrad.ops
from symgrad.core import by_name as by_name
from symgrad.expr import CONST, Expr, as_expr, as_number, check_float_range, const, format_number, make
from symgrad.expr import SYMBOL as SYMBOL  # the leaves are declared with the graph, in symgrad.expr

# ---- printing helpers ---------------------------------------------------------------


def _fixed(template: Template) -> Callable[[Any], Template]:
    return lambda _param: template


def _infix(symbol: str, prec: int) -> Callable[[Any], Template]:
    # Left-associative: the right operand needs brackets at equal precedence,
    # which keeps the float evaluation order exactly as the graph says.
    return _fixed(Template(f"{{0}} {symbol} {{1}}", (prec, prec + 1), prec))


def _call(fname: str, arity: int = 1) -> Callable[[Any], Template]:
    return _fixed(call_template(fname, arity))


def _array_call(fname: str, arity: int = 1) -> Callable[[Any], Template]:
    """``xp.fname(a)``: a function of the array namespace the generated code binds to ``xp``."""
    return _fixed(call_template(f"xp.{fname}", arity))


def _fixed_label(text: str) -> Callable[[Any], str]:
    return lambda _param: text


# ---- rewrite helpers (used by symgrad.simplify through each op's ``rewrites``) ------


def is_number(e: Expr, value: float | None = None) -> bool:
    """``e`` is a constant (equal to ``value`` when given)."""
    return e.op is CONST and (value is None or e.param == value)


def _rule(description: str, triggers: tuple[str | float, ...] | None, params: tuple[Any, ...] = ()):
    """Mark a rewrite: ``description`` names it in reports; ``triggers`` say what must be
    among the arguments for it to possibly apply: an op name, or a number for a constant
    of that value (None: always try); ``params``: node params that make it apply."""

    def wrap(fn):
        fn.description = description
        fn.triggers = triggers
        fn.params = params
        return fn

    return wrap


def _drop_unit(unit: float, sides: str, description: str):
    @_rule(description, (unit,))
    def rewrite(args: tuple[Expr, ...], _param: Any) -> Expr | None:
        if "right" in sides and is_number(args[1], unit):
            return args[0]
        if "left" in sides and is_number(args[0], unit):
            return args[1]
        return None

    return rewrite


@_rule("0*x → 0", (0,))
def _mul_by_zero(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    # Assumes x is finite (0*inf is nan): the documented price of this identity.
    for i, other in ((0, 1), (1, 0)):
        if is_number(args[i], 0) and not is_number(args[other]):
            return args[i]
    return None


@_rule("-1*x → -x", (-1,))
def _mul_by_minus_one(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    if is_number(args[0], -1):
        return neg(args[1])
    if is_number(args[1], -1):
        return neg(args[0])
    return None


@_rule("--x → x", ("neg",))
def _double_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return args[0].args[0] if args[0].op is NEG else None


def _negation_outwards(symbol: str):
    # Exact in IEEE arithmetic, and it lets negations meet and cancel in add/sub.
    @_rule(f"(-a){symbol}b → -(a{symbol}b)", ("neg",))
    def rewrite(args: tuple[Expr, ...], _param: Any) -> Expr | None:
        a, b = args
        if a.op is NEG and b.op is NEG:
            return _BINARY[symbol](a.args[0], b.args[0])
        if a.op is NEG:
            return neg(_BINARY[symbol](a.args[0], b))
        if b.op is NEG:
            return neg(_BINARY[symbol](a, b.args[0]))
        return None

    return rewrite


@_rule("a + -b → a - b", ("neg",))
def _add_of_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    a, b = args
    if b.op is NEG:
        return sub(a, b.args[0])
    if a.op is NEG:
        return sub(b, a.args[0])
    return None


@_rule("a - -b → a + b", ("neg",))
def _sub_of_negation(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return add(args[0], args[1].args[0]) if args[1].op is NEG else None


@_rule("0 - x → -x", (0,))
def _zero_minus(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    return neg(args[1]) if is_number(args[0], 0) else None


def _is_scale(value: int | float) -> bool:
    """``value`` is ±2^k with k ≥ 0: multiplying by it only moves the exponent."""
    return 1 <= builtins.abs(value) <= 2.0**1000 and math.frexp(value)[0] in (0.5, -0.5)


@_rule("c*(2^k*x) → (c*2^k)*x", ("mul",))
def _merge_power_of_two_scale(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    # Exact: 2^k*x (k ≥ 0) is exact, so both sides are one rounding of c*2^k*x, except where 2^k*x
    # overflows (then the merged form gives the finite true value). Reverse mode makes this shape
    # from every x**2: g * (2 * x) with a constant g.
    for outer, inner in ((args[0], args[1]), (args[1], args[0])):
        if outer.op is not CONST or inner.op is not mul or not math.isfinite(outer.param):
            continue
        for scale, rest in ((inner.args[0], inner.args[1]), (inner.args[1], inner.args[0])):
            if scale.op is CONST and not is_number(rest) and _is_scale(scale.param):
                merged = outer.param * scale.param
                return mul(const(merged), rest) if math.isfinite(merged) else None
    return None


@_rule("x**1 → x", (), params=(1,))
def _power_one(args: tuple[Expr, ...], k: int) -> Expr | None:
    return args[0] if k == 1 else None


@_rule("x**0 → 1", (), params=(0,))
def _power_zero(args: tuple[Expr, ...], k: int) -> Expr | None:
    return const(1.0) if k == 0 else None


# ---- numeric helpers bound into generated code ---------------------------------------


def _sigmoid(x: float) -> float:
    # Two branches so that neither exp can overflow.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _array_sigmoid(xp: Any, x: Any) -> Any:
    # _sigmoid's two branches over e = exp(-|x|), which cannot overflow: max(e, sign(x)) picks the
    # numerator (1, or e for x < 0), so values match the scalar code's, subnormals included.
    # exp's underflow is harmless for x > 0 and the answer for x < 0; scalar sigmoid raises for no x.
    errstate = getattr(xp, "errstate", None)
    if errstate is None:
        e = xp.exp(-xp.abs(x))
    else:
        with errstate(under="ignore"):
            e = xp.exp(-xp.abs(x))
    result = xp.maximum(e, xp.sign(x))
    e += 1.0  # both are fresh arrays: updating them in place saves two allocations
    result /= e
    return result


def _relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def _step(x: float) -> float:
    return 1.0 if x > 0.0 else 0.0


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def _xlogy(a: float, b: float) -> float:
    return 0.0 if a == 0.0 else a * math.log(b)


def _powi_template(k: int) -> Template:
    if k == 0:
        return Template("1.0", (ATOM,), ATOM)
    if k == 1:
        return Template("{0}", (ATOM,), ATOM)
    if k in (2, 3):
        # A product is ~3x faster than ** in CPython, and gives inf where ** raises.
        return Template(" * ".join(["{0}"] * k), (ATOM,), MUL)
    if k == -1:
        return Template("1.0 / {0}", (UNARY,), MUL)
    if k == -2:
        return Template("1.0 / ({0} * {0})", (ATOM,), MUL)
    return Template(f"{{0}} ** {k}", (ATOM,), POW)


def _powc_template(c: float) -> Template:
    if c == 0.5:
        return call_template("sqrt", 1)
    return Template(f"pow({{0}}, {format_number(c)})", (0,), ATOM)


def _powc_array_template(c: float) -> Template:
    if c == 0.5:
        return call_template("xp.sqrt", 1)
    return Template(f"xp.pow({{0}}, {format_number(c)})", (0,), ATOM)


# ---- parameter checks: what a node's param may be (see ``Op.check_param``) ------------
# Exact types: a subclass of int or float could print itself as anything.


def _check_integer_exponent(k: Any) -> None:
    if type(k) is not int:
        raise ValueError(f"powi's exponent must be an int, got {type(k).__name__}")
    check_float_range(k, "powi's exponent")


def _check_real_exponent(c: Any) -> None:
    if type(c) is not float:  # inf and nan print as the names bound to them, not through repr
        raise ValueError(f"powc's exponent must be a float, got {type(c).__name__}")


# ---- SymPy mappings ------------------------------------------------------------------

# Past these sizes SymPy's exact integer power takes minutes and gigabytes (2**10**10), and past
# the second even mpmath's Float power does (2**10**10**10); symgrad computes them in floats anyway.
_EXACT_POWER_BITS = 4096
_FLOAT_POWER_BITS = 2**40


def sympy_power(sp: Any, base: Any, exponent: Any) -> Any:
    """``base**exponent`` in SymPy, never building a number of more than a few thousand bits exactly.

    A huge power of two numbers becomes a SymPy Float (mpmath's, beyond float range); one whose
    binary exponent itself is astronomically large becomes ``oo`` (``nan`` for a negative base: it
    overflows floats, where symgrad's pow fails) or 0.0 (it underflows, as in floats).
    """
    if not (base.is_Number and exponent.is_Number and base.is_finite and exponent.is_finite) \
            or base.is_zero or exponent.is_zero:
        return base**exponent
    bits = exponent.evalf() * sp.log(sp.Abs(base).evalf(), 2)  # log2 of |result|
    if sp.Abs(bits) <= _EXACT_POWER_BITS:
        return base**exponent
    if bits > _FLOAT_POWER_BITS:
        return sp.oo if base.is_positive else sp.nan
    if bits < -_FLOAT_POWER_BITS:
        return sp.Float(0.0)
    return sp.Float(base) ** exponent


def _superscript(p: Any) -> str:
    return f"**{format_number(p)}"


# ---- arithmetic ---------------------------------------------------------------------

add = _register(Op(
    "add", 2, label=_fixed_label("+"), printer=_infix("+", ADD),
    array_printer=_infix("+", ADD),
    sympy=lambda sp, a, b: a + b,
    vjp=lambda g, out, a, b: (g, g),
    impl=lambda a, b: a + b,
    rewrites=(_drop_unit(0, "left right", "x + 0 → x"), _add_of_negation),
))
sub = _register(Op(
    "sub", 2, label=_fixed_label("-"), printer=_infix("-", ADD),
    array_printer=_infix("-", ADD),
    sympy=lambda sp, a, b: a - b,
    vjp=lambda g, out, a, b: (g, -g),
    impl=lambda a, b: a - b,
    rewrites=(_drop_unit(0, "right", "x - 0 → x"), _zero_minus, _sub_of_negation),
))
mul = _register(Op(
    "mul", 2, label=_fixed_label("*"), printer=_infix("*", MUL),
    array_printer=_infix("*", MUL),
    sympy=lambda sp, a, b: a * b,
    vjp=lambda g, out, a, b: (g * b, g * a),
    impl=lambda a, b: a * b,
    rewrites=(_drop_unit(1, "left right", "x * 1 → x"), _mul_by_zero, _mul_by_minus_one,
              _negation_outwards("*"), _merge_power_of_two_scale),
))
div = _register(Op(
    "div", 2, label=_fixed_label("/"), printer=_infix("/", MUL),
    array_printer=_infix("/", MUL),
    sympy=lambda sp, a, b: a / b,
    vjp=lambda g, out, a, b: (g / b, -g * out / b),
    impl=lambda a, b: a / b,
    rewrites=(_drop_unit(1, "right", "x / 1 → x"), _negation_outwards("/")),
))
_BINARY = {"*": mul, "/": div}
neg = NEG = _register(Op(
    "neg", 1, label=_fixed_label("-"), printer=_fixed(Template("-{0}", (UNARY,), UNARY)),
    array_printer=_fixed(Template("-{0}", (UNARY,), UNARY)),
    sympy=lambda sp, a: -a,
    vjp=lambda g, out, a: (-g,),
    impl=lambda a: -a,
    rewrites=(_double_negation,),
))
powi = _register(Op(
    "powi", 1, label=_superscript, printer=_powi_template,
    array_printer=_powi_template,
    sympy=lambda sp, a, k: sympy_power(sp, a, sp.Integer(k)),
    vjp=lambda g, out, a, k: (g * (k * (a if k == 2 else make(powi, (a,), k - 1))),),
    impl=lambda a, k: a**k,
    rewrites=(_power_one, _power_zero),
    doc="x**k for an integer constant k (the param).",
    takes_param=True, param_check=_check_integer_exponent,
))
powc = _register(Op(
    "powc", 1, label=_superscript, printer=_powc_template,
    array_printer=_powc_array_template,
    sympy=lambda sp, a, c: sympy_power(sp, a, sp.Float(c)),
    vjp=lambda g, out, a, c: (g * (c * make(powc, (a,), c - 1.0)),),
    impl=lambda a, c: math.pow(a, c),
    namespace={"pow": math.pow, "sqrt": math.sqrt},
    domain="positive",
    doc="x**c for a real, non-integer constant c (the param); math.pow semantics.",
    takes_param=True, param_check=_check_real_exponent,
))
xlogy = _register(Op(
    "xlogy", 2, label=_fixed_label("xlogy"),
    printer=_fixed(Template("0.0 if {0} == 0.0 else {0} * log({1})", (ATOM, 0), COND)),
    array_printer=_fixed(Template("xp.where({0} == 0.0, 0.0, {0} * xp.log({1}))", (ATOM, 0), ATOM)),
    sympy=lambda sp, a, b: a * sp.log(b),
    vjp=lambda g, out, a, b: (g * log(b), g * (a / b)),
    impl=_xlogy,
    namespace={"log": math.log},
    domain="positive",
    doc="a*log(b), and 0 where a == 0: the exponent rule of x**y at x == 0.",
))
power_op = _register(Op(
    "pow", 2, label=_fixed_label("**"), printer=_call("pow", 2),
    array_printer=_array_call("pow", 2),
    sympy=sympy_power,
    vjp=lambda g, out, a, b: (g * (b * power_op(a, b - 1.0)), g * xlogy(out, a)),
    impl=math.pow,
    namespace={"pow": math.pow},
    domain="positive",
    doc="x**y with an expression exponent (math.pow: a negative base is a domain error).",
))

# ---- elementary functions -------------------------------------------------------------

exp = _register(Op(
    "exp", 1, label=_fixed_label("exp"), printer=_call("exp"),
    array_printer=_array_call("exp"),
    sympy=lambda sp, a: sp.exp(a),
    vjp=lambda g, out, a: (g * out,),
    impl=math.exp, namespace={"exp": math.exp},
))
log = _register(Op(
    "log", 1, label=_fixed_label("log"), printer=_call("log"),
    array_printer=_array_call("log"),
    sympy=lambda sp, a: sp.log(a),
    vjp=lambda g, out, a: (g / a,),
    impl=math.log, namespace={"log": math.log}, domain="positive",
))
sqrt = _register(Op(
    "sqrt", 1, label=_fixed_label("sqrt"), printer=_call("sqrt"),
    array_printer=_array_call("sqrt"),
    sympy=lambda sp, a: sp.sqrt(a),
    vjp=lambda g, out, a: (g * (0.5 / out),),
    impl=math.sqrt, namespace={"sqrt": math.sqrt}, domain="positive",
))
sin = _register(Op(
    "sin", 1, label=_fixed_label("sin"), printer=_call("sin"),
    array_printer=_array_call("sin"),
    sympy=lambda sp, a: sp.sin(a),
    vjp=lambda g, out, a: (g * cos(a),),
    impl=math.sin, namespace={"sin": math.sin},
))
cos = _register(Op(
    "cos", 1, label=_fixed_label("cos"), printer=_call("cos"),
    array_printer=_array_call("cos"),
    sympy=lambda sp, a: sp.cos(a),
    vjp=lambda g, out, a: (-(g * sin(a)),),
    impl=math.cos, namespace={"cos": math.cos},
))
tanh = _register(Op(
    "tanh", 1, label=_fixed_label("tanh"), printer=_call("tanh"),
    array_printer=_array_call("tanh"),
    sympy=lambda sp, a: sp.tanh(a),
    vjp=lambda g, out, a: (g * (1.0 - out * out),),
    impl=math.tanh, namespace={"tanh": math.tanh},
))
sigmoid = _register(Op(
    "sigmoid", 1, label=_fixed_label("sigmoid"), printer=_call("sigmoid"),
    # A helper, since it reads exp(-|x|) twice: still one exp (tanh costs more and loses relative
    # precision below x = -37), and exact to the smallest subnormal, unlike exp of a clipped -x.
    array_printer=_fixed(Template("sigmoid(xp, {0})", (0,), ATOM)),
    sympy=lambda sp, a: 1 / (1 + sp.exp(-a)),
    vjp=lambda g, out, a: (g * (out * (1.0 - out)),),
    impl=_sigmoid, namespace={"sigmoid": _sigmoid}, array_namespace={"sigmoid": _array_sigmoid},
))
step = _register(Op(
    "step", 1, label=_fixed_label("step"),
    printer=_fixed(Template("1.0 if {0} > 0.0 else 0.0", (ATOM,), COND)),
    array_printer=_fixed(Template("xp.astype({0} > 0.0, xp.float64)", (ADD,), ATOM)),
    sympy=lambda sp, a: sp.Piecewise((1, a > 0), (0, True)),
    vjp=lambda g, out, a: (None,),
    impl=_step,
    doc="1 for x > 0, else 0 (so step(0) = 0): the derivative of relu.",
))
sign = _register(Op(
    "sign", 1, label=_fixed_label("sign"),
    printer=_fixed(Template("1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else 0.0)", (ATOM,), COND)),
    array_printer=_array_call("sign"),
    sympy=lambda sp, a: sp.sign(a),
    vjp=lambda g, out, a: (None,),
    impl=_sign,
    doc="-1, 0 or 1 (sign(0) = 0): the derivative of abs.",
))
relu = _register(Op(
    "relu", 1, label=_fixed_label("relu"),
    printer=_fixed(Template("{0} if {0} > 0.0 else 0.0", (ATOM,), COND)),
    array_printer=_fixed(Template("xp.maximum({0}, 0.0)", (0,), ATOM)),
    sympy=lambda sp, a: sp.Piecewise((a, a > 0), (0, True)),
    vjp=lambda g, out, a: (g * step(a),),
    impl=_relu,
    doc="max(x, 0); relu'(0) = 0.",
))
abs = _register(Op(  # noqa: A001  (sg.abs is the user's name for it)
    "abs", 1, label=_fixed_label("abs"), printer=_call("abs"),
    array_printer=_array_call("abs"),
    sympy=lambda sp, a: sp.Abs(a),
    vjp=lambda g, out, a: (g * sign(a),),
    impl=builtins.abs, namespace={"abs": builtins.abs},
    doc="|x|; |x|'(0) = 0.",
))


_EXACT_INTEGER = 2**53


def power_kind(exponent: int | float) -> tuple[Op, int | float]:
    """The op and param for a number exponent: ``powi`` for integral values, else ``powc``."""
    number = as_number(exponent, "** exponent")
    integral = math.isfinite(number) and float(number).is_integer() and builtins.abs(number) < _EXACT_INTEGER
    if isinstance(number, int) or integral:
        return powi, int(number)
    return powc, number


def power(base: Any, exponent: Any) -> Expr:
    """``base ** exponent``, choosing ``powi``, ``powc`` or ``pow`` by the exponent.

    An integral exponent (``2`` or ``2.0``) is ``powi``; another number is
    ``powc``; an expression is ``pow``.
    """
    if type(base) is not Expr:
        base = as_expr(base, "** base")
    if type(exponent) is int and -_EXACT_INTEGER < exponent < _EXACT_INTEGER:  # the hot path: x**2
        return make(powi, (base,), exponent)
    if isinstance(exponent, Expr) and exponent.op is CONST:
        exponent = exponent.param
    if isinstance(exponent, Expr):
        return power_op(base, exponent)
    op, param = power_kind(exponent)
    return make(op, (base,), param)


# ---- user-defined primitives ---------------------------------------------------------


def primitive(
    name: str,
    impl: Callable[..., float],
    derivative: Callable[..., Any],
    sympy: Callable[..., Any] | None = None,
    *,
    arity: int | None = None,
    array_impl: Callable[..., Any] | None = None,
    replace: bool = False,
    doc: str = "",
) -> Op:
    """Register a new op in the table the built-ins live in, and return it (call it to build nodes).

    ``impl`` computes the value from floats; it is called by name from the
    generated code and folds constants. ``derivative(*args)`` returns the
    partial derivative (a tuple of them for several arguments) as symgrad
    expressions of the argument expressions, so it can be differentiated
    again. ``sympy(*args)`` maps it to SymPy for ``sg.verify``; without it,
    verification falls back to finite differences (``verify`` keeps the
    random points where ``impl`` raises no ValueError or ArithmeticError).
    ``array_impl`` computes it element-wise on arrays, for ``backend="numpy"``.
    ``replace=True`` redefines a primitive of the same name (compiled
    functions of the old one are never reused).

        >>> import math, sympy, symgrad as sg
        >>> softplus = sg.primitive("softplus", impl=lambda x: math.log1p(math.exp(x)),
        ...                         derivative=lambda x: sg.sigmoid(x),
        ...                         sympy=lambda x: sympy.log(1 + sympy.exp(x)), replace=True)
        >>> x = sg.symbols("x")
        >>> sg.compile(softplus(2 * x), wrt=[x])(0.0)
        (0.6931471805599453, (1.0,))
    """
    from symgrad.expr import free_symbols, symbol

    if not isinstance(name, str) or not name.isascii() or not name.isidentifier() or name.startswith("_") \
            or keyword.iskeyword(name):
        raise ValueError(f"a primitive's name must be a plain ASCII identifier not starting with _, got {name!r}")
    existing = _TABLE.get(name)
    if existing is not None and not existing.user:
        raise ValueError(f"{name!r} is a built-in op; it cannot be redefined")
    if not callable(impl) or not callable(derivative) or not all(f is None or callable(f) for f in (sympy, array_impl)):
        raise TypeError(f"primitive {name!r}: impl, derivative, sympy and array_impl must be callables")
    if arity is None:
        try:
            parameters = inspect.signature(impl).parameters.values()
        except (TypeError, ValueError):
            raise TypeError(f"primitive {name!r}: cannot read impl's signature; pass arity=") from None
        arity = sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty)
    if not isinstance(arity, int) or arity < 1:
        raise ValueError(f"primitive {name!r}: arity must be a positive int, got {arity!r}")

    def partials(args: tuple[Expr, ...]) -> tuple[Expr, ...]:
        found = derivative(*args)
        if arity == 1 and not isinstance(found, (tuple, list)):
            found = (found,)
        if not isinstance(found, (tuple, list)) or len(found) != arity:
            raise TypeError(f"primitive {name!r}: derivative must return {arity} partial derivative(s), "
                            f"got {found!r}")
        return tuple(as_expr(p, f"primitive {name!r} derivative") for p in found)

    # Check the rule once now, on placeholder symbols, so a mistake surfaces here.
    probes = tuple(symbol(f"{name}_arg{i}") for i in range(arity))
    try:
        probe_partials = partials(probes)
    except TypeError as error:
        raise TypeError(f"primitive {name!r}: derivative must build symgrad expressions "
                        f"(use sg.exp, sg.sigmoid, ... not math): {error}") from error
    strays = [s.param for s in free_symbols(probe_partials) if s not in probes]
    if strays:
        raise ValueError(f"primitive {name!r}: derivative uses symbols other than its arguments: {strays}")

    # Generated code calls it as ``name_``: no symbol's identifier ends with "_", so registering a
    # primitive never renames a symbol's argument (and never makes an older pickle unloadable).
    bound = name + "_"
    op = Op(
        name, arity, label=_fixed_label(name), printer=_call(bound, arity),
        sympy=None if sympy is None else (lambda sp, *args: sympy(*args)),
        vjp=lambda g, out, *args: tuple(g * p for p in partials(args)),
        impl=impl, namespace={bound: impl}, doc=doc or f"user primitive {name}", user=True,
        array_printer=None if array_impl is None else _call(bound, arity),
        array_namespace={} if array_impl is None else {bound: array_impl},
    )
    return _register(op, replace=replace)


# ---- Expr's operators -------------------------------------------------------------------
# The graph (symgrad.expr) knows no op but its leaves: Expr's operators come from the Arithmetic
# mixin (symgrad.arithmetic, which also serves Value), with the ops handed over and the hooks set
# here, as tinygrad's MathTrait serves its UOp. Python numbers on either side become constants.


def _binary(op: Op, a: Any, b: Any) -> Expr:
    # The hot path of building graphs: skip the generic argument handling.
    if type(a) is not Expr:
        a = as_expr(a, op.name)
    if type(b) is not Expr:
        b = as_expr(b, op.name)
    return make(op, (a, b))


def _unary(op: Op, a: Expr) -> Expr:
    return make(op, (a,))


use_ops(add, sub, mul, div, neg, abs)
Expr._binary = staticmethod(_binary)
Expr._unary = staticmethod(_unary)
Expr._power = staticmethod(power)


# The ops users call as functions: sg.exp(x), sg.relu(x), ...
FUNCTIONS: dict[str, Op] = {
    op.name: op
    for op in (exp, log, sqrt, sin, cos, tanh, sigmoid, relu, abs)
}


# micrograd style: x.relu(), x.tanh(), ...
bind_functions(Expr, FUNCTIONS)
