"""Reverse mode on the expression DAG: the gradient as another expression graph.

One sweep over the nodes in reverse topological order. Each node's adjoint
is the sum of what its consumers sent back; its op's ``vjp`` rule turns
that adjoint into contributions for its arguments. The result shares every
forward node it needs, so it can be simplified, drawn, checked against
SymPy, and differentiated again. Time and size are linear in the graph.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.grad(x * y + x, [x, y])
    [1.0 + y, x]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from symgrad.expr import Expr, as_expr, const, symbol, topological_order
from symgrad.ops import SYMBOL


def as_symbols(wrt: Any, what: str = "wrt") -> list[Expr]:
    """``wrt`` (symbols, or their names) as a list of symbol nodes, checked."""
    if isinstance(wrt, (Expr, str)):
        wrt = [wrt]
    found: list[Expr] = []
    seen: set[Expr] = set()
    for i, item in enumerate(wrt):
        node = symbol(item) if isinstance(item, str) else item
        if not isinstance(node, Expr) or node.op is not SYMBOL:
            raise TypeError(f"{what}[{i}] must be a symbol (or its name), got {item!r}")
        if node in seen:
            raise ValueError(f"{what}[{i}]: the symbol {node.param!r} is listed twice")
        seen.add(node)
        found.append(node)
    return found


def adjoints(
    output: Expr,
    wrt: Sequence[Expr],
    order: list[Expr] | None = None,
    rewrite: Callable[[Expr], Expr] | None = None,
) -> dict[Expr, Expr]:
    """The adjoint of every node on a path from ``wrt`` to ``output``.

    ``order`` may pass ``topological_order([output])`` if the caller has it.
    ``rewrite``, if given, is applied to every new adjoint term as it is
    made (``symgrad.simplify.Rewriter.expr``), so no unsimplified backward
    graph is ever built in full.
    """
    if order is None:
        order = topological_order([output])
    active = set(wrt)  # nodes that depend on some wrt symbol
    for node in order:
        for arg in node.args:
            if arg in active:
                active.add(node)
                break
    adjoint: dict[Expr, Expr] = {}
    if output in active:
        adjoint[output] = const(1.0)
    if rewrite is None:
        rewrite = _unchanged
    for node in reversed(order):
        g = adjoint.get(node)
        if g is None:
            continue
        args = node.args
        if not args:
            continue
        if node.param is None:
            parts = node.op.vjp(g, node, *args)
        else:
            parts = node.op.vjp(g, node, *args, node.param)
        for arg, part in zip(args, parts):
            if part is None or arg not in active:
                continue
            previous = adjoint.get(arg)
            # Rewriting the term first leaves only the sum's node new.
            part = rewrite(part)
            adjoint[arg] = part if previous is None else rewrite(previous + part)
    return adjoint


def _unchanged(node: Expr) -> Expr:
    return node


def grad(output: Any, wrt: Any, *, simplify: bool = True) -> list[Expr]:
    """d output / d w for each symbol ``w`` in ``wrt``, as expressions.

    With ``simplify=True`` (the default) the rewrites of ``symgrad.simplify``
    are applied; a symbol the output does not depend on gets the constant 0.
    """
    return value_and_grad(output, wrt, simplify=simplify)[1]


def value_and_grad(output: Any, wrt: Any, *, simplify: bool = True) -> tuple[Expr, list[Expr]]:
    """The (rewritten) output and its gradient, sharing nodes: what gets compiled and drawn."""
    from symgrad.simplify import Rewriter

    output = as_expr(output, "grad() output")
    targets = as_symbols(wrt)
    rewrite = None
    if simplify:
        rewriter = Rewriter()
        (output,) = rewriter.graph([output])
        rewrite = rewriter.expr
    adjoint = adjoints(output, targets, rewrite=rewrite)
    zero = const(0.0)
    return output, [adjoint.get(w, zero) for w in targets]
