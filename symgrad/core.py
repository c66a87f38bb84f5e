"""What a primitive is, and the table of them: the bottom layer, importing nothing of symgrad.

``Op`` describes one primitive (its printing, derivative, value, rewrites...), ``Template``
how a node prints as Python, and the precedences order those templates; the printers at the
end build the usual ``printer`` and ``label`` fields. ``symgrad.expr`` builds graphs of ops
and gives ``Op`` its ``__call__``; ``symgrad.ops`` declares the primitives, each with one
``_register(Op(...))`` (the leaves, symbol and const, are declared with the graph in
``symgrad.expr``).
"""

from __future__ import annotations

import functools
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

# A node a primitive is applied to: an Expr (core cannot name it), or an array of them.
_Node = TypeVar("_Node")

# Python precedences, loosest to tightest, for bracket-free printing.
COND, COMPARE, ADD, MUL, UNARY, POW, ATOM = 10, 20, 30, 40, 50, 60, 100


class _SameAsScalar:
    """The default array form of an op: the scalar template, valid for arrays as it is."""

    def __repr__(self) -> str:
        return "SAME_AS_SCALAR"


SAME_AS_SCALAR: Any = _SameAsScalar()


class Template(NamedTuple):
    """How one node prints as Python: ``text`` with ``{0}``, ``{1}`` for its arguments.

    ``arg_prec[i]`` is the least precedence argument ``i`` may have without
    brackets (``ATOM`` when the template repeats it, so it must be a name);
    ``prec`` is the precedence of the whole text.
    """

    text: str
    arg_prec: tuple[int, ...]
    prec: int

    def pieces(self) -> tuple[str | int, ...]:
        """The text as literal strings and argument indices: ``"{0} + {1}"`` -> ``(0, " + ", 1)``."""
        return _split_template(self.text)


@functools.lru_cache(maxsize=4096)  # templates repeat: one per op, and a few per constant exponent
def _split_template(text: str) -> tuple[str | int, ...]:
    pieces: list[str | int] = []
    position = 0
    while (start := text.find("{", position)) >= 0:
        end = text.index("}", start)
        if start > position:
            pieces.append(text[position:start])
        pieces.append(int(text[start + 1 : end]))
        position = end + 1
    if position < len(text):
        pieces.append(text[position:])
    return tuple(pieces)


class LatexTemplate(NamedTuple):
    """How one node prints as LaTeX: ``text`` with ``#0``, ``#1`` for its arguments (TeX's own mark
    of a macro's parameters; ``\\#`` stays a literal #), precedences as in ``Template``. A template
    without arguments (a leaf's) is literal text."""

    text: str
    arg_prec: tuple[int, ...]
    prec: int

    def pieces(self) -> tuple[str | int, ...]:
        return _split_latex(self.text) if self.arg_prec else (self.text,)


@functools.lru_cache(maxsize=1024)
def _split_latex(text: str) -> tuple[str | int, ...]:
    parts = re.split(r"(?<!\\)#(\d)", text)  # the marks land at odd positions
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts) if part)


@dataclass(eq=False)
class Op:
    """One primitive: everything about it, in one place (see ``symgrad.ops``).

    ``vjp(g, out, *args)`` returns one Expr (or None for "no dependence") per
    argument: the adjoint ``g`` pulled back through the op, written with
    symgrad operations so it can be differentiated again. ``printer(param)``
    gives the Python ``Template``; ``namespace`` the names that text uses.
    Calling an op on expressions builds its node (``symgrad.expr`` defines ``__call__``).
    """

    name: str
    arity: int
    label: Callable[[Any], str]
    printer: Callable[[Any], Template]
    sympy: Callable[..., Any] | None
    vjp: Callable[..., tuple[Any, ...]] | None  # a tuple of Expr | None
    impl: Callable[..., Any] | None
    namespace: Mapping[str, Any] = field(default_factory=dict)
    rewrites: tuple[Callable[..., Any], ...] = ()  # symgrad.rules.Rule
    domain: str = "real"
    doc: str = ""
    # The same for array code (``backend="numpy"``): a template over ``xp``, the array namespace
    # of the inputs; by default the scalar one (as SymPy's NumPyPrinter overrides only the
    # printing that differs); None if the op has no array form.
    array_printer: Callable[[Any], Template] | _SameAsScalar | None = SAME_AS_SCALAR
    array_namespace: Mapping[str, Any] = field(default_factory=dict)
    user: bool = False  # registered by ``sg.primitive``
    # For ops with a param: checks its type and range (raising ValueError), before any
    # template formats it and whenever a graph is rebuilt from records.
    param_check: Callable[[Any], None] | None = None
    # How a node prints in LaTeX (``Expr._repr_latex_``, see ``symgrad.latex``); None: the
    # function form \operatorname{name}(args).
    latex: Callable[[Any], LatexTemplate] | None = None
    # How a node reads in text (repr, the comments of generated code) where its code reads
    # worse: ``x > 0`` rather than ``1.0 if x > 0 else 0.0``; None: as its code.
    text: Template | None = None

    @property
    def takes_param(self) -> bool:
        """Whether nodes carry a param (a name, a number, an exponent): those ops check it."""
        return self.param_check is not None

    def check_param(self, param: Any) -> None:
        """Raise ValueError unless ``param`` is one this op's nodes may carry."""
        if self.param_check is None:
            if param is not None:
                raise ValueError(f"{self.name} nodes carry no parameter, got {reprlib.repr(param)}")
        else:
            self.param_check(param)

    def array_template(self, param: Any) -> Template:
        """The template of array code (``backend="numpy"``) for a node with ``param``."""
        printer = self.printer if isinstance(self.array_printer, _SameAsScalar) else self.array_printer
        if printer is None:
            raise ValueError(f"the op {self.name!r} has no array form; a primitive needs array_impl= "
                             "to be compiled with backend='numpy'")
        return printer(param)

    # Every pass calls ``vjp`` and ``impl`` through these: the param, when a node has one, comes last.

    def pullback(self, g: Any, out: Any, args: Sequence[Any], param: Any) -> tuple[Any, ...]:
        """The adjoint ``g`` of the node ``out = op(*args)`` pulled back to each argument (``vjp``)."""
        # Leaves have no vjp (nor impl): no pass pulls back through one or evaluates one.
        if param is None:
            return self.vjp(g, out, *args)  # type: ignore[misc]
        return self.vjp(g, out, *args, param)  # type: ignore[misc]

    def evaluate(self, values: Sequence[Any], param: Any) -> Any:
        """The op's value (``impl``) at the argument values ``values``."""
        if param is None:
            return self.impl(*values)  # type: ignore[misc]
        return self.impl(*values, param)  # type: ignore[misc]

    if TYPE_CHECKING:  # symgrad.expr gives Op this method: op(*args) is the node, element-wise over arrays

        @overload
        def __call__(self, a: float, /) -> Any: ...  # a constant node: an Expr
        @overload
        def __call__(self, a: _Node, /) -> _Node: ...
        @overload
        def __call__(self, a: float, b: float, /) -> Any: ...
        @overload
        def __call__(self, a: float, b: _Node, /) -> _Node: ...
        @overload
        def __call__(self, a: _Node, b: _Node | float, /) -> _Node: ...
        def __call__(self, *args: Any) -> Any: ...

    def __repr__(self) -> str:
        """What ``sg.relu`` shows at the prompt: the op and what its entry says of it."""
        return f"<symgrad op {self.name}{': ' + self.doc if self.doc else ''}>"


# ---- the table of primitives ------------------------------------------------------------

_TABLE: dict[str, Op] = {}


def _register(op: Op, replace: bool = False) -> Op:
    existing = _TABLE.get(op.name)
    if existing is not None and not (replace and existing.user):
        hint = "; pass replace=True to redefine it" if existing.user else " (a built-in)"
        raise ValueError(f"an op named {op.name!r} is already registered{hint}")
    _TABLE[op.name] = op
    return op


def by_name(name: str) -> Op:
    """The registered op called ``name``."""
    try:
        return _TABLE[name]
    except KeyError:
        raise KeyError(f"no symgrad op is called {name!r}") from None


def all_ops() -> list[Op]:
    """Every registered op, in registration order."""
    return list(_TABLE.values())


def call_template(fname: str, arity: int) -> Template:
    """``fname(a, b)``: arguments need no brackets, the call is an atom."""
    slots = ", ".join(f"{{{i}}}" for i in range(arity))
    return Template(f"{fname}({slots})", (0,) * arity, ATOM)


# ---- printers: what an op's ``printer``, ``array_printer`` and ``label`` usually are ----------


def fixed_printer(template: Template) -> Callable[[Any], Template]:
    return lambda _param: template


def infix_printer(symbol: str, prec: int) -> Callable[[Any], Template]:
    # Left-associative: the right operand needs brackets at equal precedence,
    # which keeps the float evaluation order exactly as the graph says.
    return fixed_printer(Template(f"{{0}} {symbol} {{1}}", (prec, prec + 1), prec))


def call_printer(fname: str, arity: int = 1) -> Callable[[Any], Template]:
    return fixed_printer(call_template(fname, arity))


def array_call_printer(fname: str, arity: int = 1) -> Callable[[Any], Template]:
    """``xp.fname(a)``: a function of the array namespace the generated code binds to ``xp``."""
    return fixed_printer(call_template(f"xp.{fname}", arity))


def fixed_label(text: str) -> Callable[[Any], str]:
    return lambda _param: text


def latex_printer(text: str, arg_prec: tuple[int, ...], prec: int) -> Callable[[Any], LatexTemplate]:
    return lambda _param: LatexTemplate(text, arg_prec, prec)


def latex_function(command: str, arity: int = 1) -> Callable[[Any], LatexTemplate]:
    """``\\command\\left(a, b\\right)``: a call whose arguments need no brackets of their own."""
    slots = ", ".join(f"#{i}" for i in range(arity))
    return latex_printer(f"{command}\\left({slots}\\right)", (0,) * arity, ATOM)
