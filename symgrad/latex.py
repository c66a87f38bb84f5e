"""Expressions in LaTeX: what a notebook shows for an ``Expr`` (``_repr_latex_``).

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.to_latex(sg.tanh(x * y) + x**2 / y)
    '\\\\tanh\\\\left(x \\\\cdot y\\\\right) + \\\\frac{x^{2}}{y}'

Each op prints by its table entry's ``latex`` template (``symgrad.ops``; a user's primitive
as \\operatorname{name}(...)), symbols by ``symgrad.literals.latex_name``, which makes any
name plain text. The graph is printed as written (no SymPy, nothing reordered or simplified),
and like ``to_text`` it is cut after about ``limit`` characters, so a million-node graph
prints as fast as a small one; a cut expression says how big its graph is.
"""

from __future__ import annotations

from typing import Any

from symgrad.core import ATOM, LatexTemplate
from symgrad.expr import Expr, as_expr, count_nodes, infix_text
from symgrad.literals import latex_text

LIMIT = 1200  # characters of LaTeX shown before the cut
_COUNTED = 100_000  # nodes counted, at most, for the note on a cut expression


def _template(node: Expr) -> LatexTemplate:
    op = node.op
    if op.latex is not None:
        return op.latex(node.param)
    slots = ", ".join(f"#{i}" for i in range(op.arity))
    return LatexTemplate(rf"\operatorname{{{latex_text(op.name)}}}\left({slots}\right)", (0,) * op.arity, ATOM)


def to_latex(expr: Any, limit: int = LIMIT) -> str:
    """LaTeX (math mode, without the dollars) of an expression, cut to about ``limit`` characters."""
    return _latex(as_expr(expr, "to_latex()"), limit)[0]


def _latex(expr: Expr, limit: int) -> tuple[str, bool]:
    return infix_text(expr, _template, limit, brackets=(r"\left(", r"\right)"), balanced=True)


def _repr_latex(self: Expr) -> str:
    """What Jupyter shows: the expression, and after a cut the size of its graph."""
    text, cut = _latex(self, LIMIT)
    if cut:
        nodes = count_nodes([self], at_most=_COUNTED)
        size = f"over {_COUNTED:,}" if nodes > _COUNTED else f"{nodes:,}"
        text += rf"\quad\text{{(cut: a graph of {size} nodes)}}"
    return f"$\\displaystyle {text}$"


# The graph never imports its printers: Expr gets its notebook display from here.
Expr._repr_latex_ = _repr_latex  # type: ignore[attr-defined]  # set here, not in the class
