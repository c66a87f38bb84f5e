"""User-defined primitives: ``sg.primitive`` registers an op in the table the built-ins live in.

It checks what it is given (the name, the callables, the arity), wraps the user's partial
derivatives as a pullback rule and tries that rule once on placeholder symbols, so a mistake
surfaces at registration rather than in a later ``compile``. The built-ins are in
``symgrad.ops``, which re-exports ``primitive``.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from typing import Any

from symgrad.core import _TABLE, Op, _register, call_printer, fixed_label
from symgrad.expr import Expr, as_expr, free_symbols, symbol

# The user's derivative as a rule: the argument expressions -> one partial derivative per argument.
Partials = Callable[[tuple[Expr, ...]], tuple[Expr, ...]]


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
        >>> smoothrelu = sg.primitive("smoothrelu", impl=lambda x: math.log1p(math.exp(x)),
        ...                           derivative=lambda x: sg.sigmoid(x),
        ...                           sympy=lambda x: sympy.log(1 + sympy.exp(x)), replace=True)
        >>> x = sg.symbols("x")
        >>> sg.compile(smoothrelu(2 * x), wrt=[x])(0.0)
        (0.6931471805599453, (1.0,))
    """
    _check_name(name)
    if not callable(impl) or not callable(derivative) or not all(f is None or callable(f) for f in (sympy, array_impl)):
        raise TypeError(f"primitive {name!r}: impl, derivative, sympy and array_impl must be callables")
    arity = _arity(name, impl, arity)
    partials = _partials_rule(name, derivative, arity)
    _probe(name, arity, partials)
    return _register(_op(name, arity, impl, partials, sympy, array_impl, doc), replace=replace)


def _check_name(name: Any) -> None:
    """A plain ASCII identifier, not private, not a keyword, not a built-in op's."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier() or name.startswith("_") \
            or keyword.iskeyword(name):
        raise ValueError(f"a primitive's name must be a plain ASCII identifier not starting with _, got {name!r}")
    existing = _TABLE.get(name)
    if existing is not None and not existing.user:
        raise ValueError(f"{name!r} is a built-in op; it cannot be redefined")


def _arity(name: str, impl: Callable[..., Any], arity: Any) -> int:
    """``arity`` if given, else the number of ``impl``'s required positional parameters."""
    if arity is None:
        try:
            parameters = inspect.signature(impl).parameters.values()
        except (TypeError, ValueError):
            raise TypeError(f"primitive {name!r}: cannot read impl's signature; pass arity=") from None
        arity = sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty)
    if not isinstance(arity, int) or arity < 1:
        raise ValueError(f"primitive {name!r}: arity must be a positive int, got {arity!r}")
    return arity


def _partials_rule(name: str, derivative: Callable[..., Any], arity: int) -> Partials:
    """The user's ``derivative`` as a function of the argument expressions giving ``arity`` Exprs."""

    def partials(args: tuple[Expr, ...]) -> tuple[Expr, ...]:
        found = derivative(*args)
        if arity == 1 and not isinstance(found, (tuple, list)):
            found = (found,)
        if not isinstance(found, (tuple, list)) or len(found) != arity:
            raise TypeError(f"primitive {name!r}: derivative must return {arity} partial derivative(s), "
                            f"got {found!r}")
        return tuple(as_expr(p, f"primitive {name!r} derivative") for p in found)

    return partials


def _probe(name: str, arity: int, partials: Partials) -> None:
    """Check the rule once now, on placeholder symbols, so a mistake surfaces here."""
    probes = tuple(symbol(f"{name}_arg{i}") for i in range(arity))
    try:
        probe_partials = partials(probes)
    except TypeError as error:
        raise TypeError(f"primitive {name!r}: derivative must build symgrad expressions "
                        f"(use sg.exp, sg.sigmoid, ... not math): {error}") from error
    strays = [s.param for s in free_symbols(probe_partials) if s not in probes]
    if strays:
        raise ValueError(f"primitive {name!r}: derivative uses symbols other than its arguments: {strays}")


def _op(name: str, arity: int, impl: Callable[..., float], partials: Partials,
        sympy: Callable[..., Any] | None, array_impl: Callable[..., Any] | None, doc: str) -> Op:
    """The table entry: printed as a call of ``impl``, pulled back through ``partials``."""
    # Generated code calls it as ``name_``: no symbol's identifier ends with "_", so registering a
    # primitive never renames a symbol's argument (and never makes an older pickle unloadable).
    bound = name + "_"
    printer = call_printer(bound, arity)
    return Op(
        name, arity, label=fixed_label(name), printer=printer,
        sympy=None if sympy is None else (lambda sp, *args: sympy(*args)),
        vjp=lambda g, out, *args: tuple(g * p for p in partials(args)),
        impl=impl, namespace={bound: impl}, doc=doc or f"user primitive {name}", user=True,
        array_printer=None if array_impl is None else printer,
        array_namespace={} if array_impl is None else {bound: array_impl},
    )
