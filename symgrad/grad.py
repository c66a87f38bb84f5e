"""Reverse mode on the expression DAG: the gradient as another expression graph.

One sweep over the nodes in reverse topological order. Each node's adjoint
is the sum of what its consumers sent back (what came negated, subtracted:
``a - b``, not ``a + -b``); its op's ``vjp`` rule turns
that adjoint into contributions for its arguments. The result shares every
forward node it needs, so it can be simplified, drawn, checked against
SymPy, and differentiated again. Time and size are linear in the graph.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.grad(x * y + x, [x, y])
    [1.0 + y, x]
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from symgrad.expr import Expr, as_expr, const, free_symbols, is_array, make, split_names, symbol, topological_order
from symgrad.ops import SYMBOL, add, neg, sub
from symgrad.simplify import Rewriter


def as_symbols(wrt: Any, what: str = "wrt", among: Callable[[], Sequence[Expr]] | None = None,
               names_only: bool = True) -> list[Expr]:
    """``wrt`` (symbols, their names, or one string of names split as ``symbols`` splits it) as a
    list of symbol nodes, checked. With ``among`` (called only if needed, as it may walk a graph),
    each one given by name must be one of the symbols it returns (a name that is not is a typo:
    ``"X"`` for ``x``); with ``names_only=False``, each one given as a symbol too (a symbol an
    expression does not use has the derivative 0)."""
    if isinstance(wrt, str):
        wrt = split_names(wrt, what)
    elif isinstance(wrt, Expr):
        wrt = [wrt]
    elif is_array(wrt):
        wrt = wrt.flat
    # An array of symbols stands for its elements.
    wrt = [e for item in wrt for e in (item.flat if is_array(item) else (item,))]
    found: list[Expr] = []
    seen: set[Expr] = set()
    allowed: set[Expr] | None = None
    for i, item in enumerate(wrt):
        node = symbol(item) if isinstance(item, str) else item
        if not isinstance(node, Expr) or node.op is not SYMBOL:
            raise TypeError(f"{what}[{i}] must be a symbol (or its name), got {item!r}")
        if node in seen:
            raise ValueError(f"{what}[{i}]: the symbol {node.param!r} is listed twice")
        if among is not None and (isinstance(item, str) or not names_only):
            if allowed is None:
                allowed = set(among())
            if node not in allowed:
                raise ValueError(f"{what}[{i}]: {_not_among(node.param, allowed)}")
        seen.add(node)
        found.append(node)
    return found


_LISTED_SYMBOLS = 12  # an error lists at most this many of the expression's symbols


def _not_among(name: str, among: Iterable[Expr]) -> str:
    """Why ``name`` is refused: the symbols there are, and the nearest one to it, if any is close."""
    names = sorted(s.param for s in among)
    shown = ", ".join(names[:_LISTED_SYMBOLS])
    if len(names) > _LISTED_SYMBOLS:
        shown += f", ... ({len(names)} in all)"
    message = f"{name!r} is not a symbol of the expression (its symbols: {shown or 'none'})"
    folded = {n.casefold(): n for n in names}
    close = [folded[name.casefold()]] if name.casefold() in folded else difflib.get_close_matches(name, names, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def adjoints(
    output: Expr,
    wrt: Sequence[Expr],
    order: list[Expr] | None = None,
    rewriter: Rewriter | None = None,
) -> dict[Expr, Expr]:
    """The adjoint of every node on a path from ``wrt`` to ``output``.

    ``order`` may pass ``topological_order([output])`` if the caller has it.
    ``rewriter``, if given, makes every node of the adjoints rewritten from
    the start (``Rewriter.building``), so no unsimplified backward graph is built.
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
    # What each node's consumers sent back (one part, or a list of them), summed once the last of
    # them is done (reverse topological order: when the node itself comes up).
    sent: dict[Expr, Any] = {output: const(1.0)} if output in active else {}
    with _building(rewriter):
        take = sent.pop
        for node in reversed(order):
            g = take(node, None)
            if g is None:
                continue
            if type(g) is list:
                g = _signed_sum(g)
            adjoint[node] = g
            args = node.args
            if not args:
                continue
            parts = node.op.pullback(g, node, args, node.param)
            for arg, part in zip(args, parts):
                if part is not None and arg in active:
                    found = sent.get(arg)
                    if found is None:
                        sent[arg] = part
                    elif type(found) is list:
                        found.append(part)
                    else:
                        sent[arg] = [found, part]
    return adjoint


def _signed_sum(parts: list[Expr]) -> Expr:
    """``parts`` added up, the negated ones subtracted: ``a + -b + -c`` as ``a - b - c``, and
    ``-b + -c`` as ``-(b + c)``. Summing by sign makes no negation node for rewrites to move
    (reverse mode sends ``-g`` through every ``a - b``) and one fewer operation per minus."""
    if len(parts) == 1:
        return parts[0]
    added = [p for p in parts if p.op is not neg]
    subtracted = [p.args[0] for p in parts if p.op is neg]
    if not added:
        return make(neg, (_sum(subtracted),))
    total = _sum(added)
    for part in subtracted:
        total = make(sub, (total, part))
    return total


def _sum(parts: list[Expr]) -> Expr:
    total = parts[0]
    for part in parts[1:]:
        total = make(add, (total, part))
    return total


def _building(rewriter: Rewriter | None) -> contextlib.AbstractContextManager[None]:
    """Make every node rewritten from the start (nothing to do without a rewriter)."""
    return contextlib.nullcontext() if rewriter is None else rewriter.building()


def tangents(
    roots: Sequence[Expr],
    seeds: dict[Expr, Expr],
    rewriter: Rewriter | None = None,
) -> list[Expr]:
    """Forward mode: the directional derivative of each root, given the tangent of some symbols.

    No rule of its own is needed: for a scalar op the pullback ``vjp(g)`` is
    ``g`` times the partial derivative, so pulling a tangent back through
    one argument gives that argument's contribution to the output's tangent.
    """
    tangent = dict(seeds)
    with _building(rewriter):
        for node in topological_order(roots):
            args = node.args
            if not args or node in tangent:
                continue
            parts = []
            for index, arg in enumerate(args):
                seed = tangent.get(arg)
                if seed is None:
                    continue
                part = node.op.pullback(seed, node, args, node.param)[index]
                if part is not None:
                    parts.append(part)
            if parts:
                tangent[node] = _signed_sum(parts)
    zero = const(0.0)
    return [tangent.get(r, zero) for r in roots]


class Differentiator:
    """Reverse and forward mode over one rewritten graph: every derivative taken with it
    shares the nodes (and the rewriting) of the ones before, across outputs and orders.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> d = Differentiator()
        >>> (f,) = d.prepare([x**2 * y])
        >>> d.gradient(f, [x, y])
        [2 * x * y, x**2]
    """

    def __init__(self, simplify: bool = True, rewrites: str = "all") -> None:
        self.rewriter = Rewriter(rewrites) if simplify else None

    def prepare(self, roots: Sequence[Expr], order: list[Expr] | None = None) -> list[Expr]:
        """The (rewritten) roots to differentiate; ``order``: their topological order, if known."""
        return list(roots) if self.rewriter is None else self.rewriter.graph(roots, order)

    def gradient(self, output: Expr, wrt: Sequence[Expr], order: list[Expr] | None = None) -> list[Expr]:
        """d output / d w for each ``w`` (0 where it does not depend on ``w``)."""
        adjoint = adjoints(output, wrt, order, self.rewriter)
        zero = const(0.0)
        return [adjoint.get(w, zero) for w in wrt]  # adjoints are rewritten as they are made

    def hessian(self, gradient: Sequence[Expr], wrt: Sequence[Expr]) -> list[list[Expr]]:
        """Second derivatives from the gradient: one reverse sweep per row, over the
        upper triangle only, mirrored, so ``H[i][j] is H[j][i]``.

        Row ``i`` is swept only by the symbols its gradient entry depends on,
        so a sparse Hessian costs time in its non-zeros, not in n².
        """
        n = len(wrt)
        position = {w: j for j, w in enumerate(wrt)}
        zero = const(0.0)
        rows: list[list[Expr]] = [[zero] * n for _ in range(n)]
        for i in range(n):
            order = topological_order([gradient[i]])
            later = [w for w in order if position.get(w, -1) >= i]
            for w, entry in zip(later, self.gradient(gradient[i], later, order)):
                j = position[w]
                rows[i][j] = rows[j][i] = entry
        return rows

    def hvp(self, gradient: Sequence[Expr], wrt: Sequence[Expr], vector: Sequence[Expr]) -> list[Expr]:
        """H @ v by forward mode over the gradient graph (forward-over-reverse).

        Both ways cost one extra sweep, linear in the graph, and neither forms
        H. Forward over reverse is the cheaper here: it never sends adjoints
        back through the forward graph a second time.
        """
        return tangents(gradient, dict(zip(wrt, vector)), self.rewriter)


def jacobian(outputs: Any, wrt: Any, *, simplify: bool = True) -> list[list[Expr]]:
    """d output_i / d w_j as a nested list (one row per output), sharing nodes across rows.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> sg.jacobian([x * y, x + y], [x, y])
        [[y, x], [1.0, 1.0]]
    """
    outputs = [as_expr(o, f"jacobian() output {i}") for i, o in enumerate(_as_list(outputs))]
    targets = as_symbols(wrt, among=lambda: free_symbols(outputs))
    d = Differentiator(simplify)
    return [d.gradient(o, targets) for o in d.prepare(outputs)]


def hessian(output: Any, wrt: Any, *, simplify: bool = True) -> list[list[Expr]]:
    """The matrix of second derivatives, a symmetric nested list sharing nodes with the gradient.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> sg.hessian(x**2 * y, [x, y])
        [[2 * y, 2 * x], [2 * x, 0.0]]
    """
    output = as_expr(output, "hessian() output")
    targets = as_symbols(wrt, among=lambda: free_symbols([output]))
    d = Differentiator(simplify)
    (output,) = d.prepare([output])
    return d.hessian(d.gradient(output, targets), targets)


def _as_list(items: Any) -> list[Any]:
    return [items] if isinstance(items, Expr) or not isinstance(items, (list, tuple)) else list(items)


def grad(output: Any, wrt: Any, *, simplify: bool = True) -> list[Expr]:
    """d output / d w for each symbol ``w`` in ``wrt``, as expressions.

    With ``simplify=True`` (the default) the rewrites of ``symgrad.simplify``
    are applied; a symbol the output does not depend on gets the constant 0. A ``w``
    given by name must name a symbol of ``output`` (else a ValueError lists them).
    """
    return value_and_grad(output, wrt, simplify=simplify)[1]


def value_and_grad(output: Any, wrt: Any, *, simplify: bool = True) -> tuple[Expr, list[Expr]]:
    """The (rewritten) output and its gradient, sharing nodes: what gets compiled and drawn."""
    output = as_expr(output, "grad() output")
    targets = as_symbols(wrt, among=lambda: free_symbols([output]))
    d = Differentiator(simplify)
    (output,) = d.prepare([output])
    return output, d.gradient(output, targets)
