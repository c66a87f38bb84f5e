"""Rewrites: constant folding, the identities each op declares, dead-node elimination.

One bottom-up pass over the DAG. Every node is rebuilt from its rewritten
arguments (hash-consing makes equal results one node, so common
subexpressions merge for free), then constant-folded when all its arguments
are numbers, then offered to its op's ``rewrites`` (``x*1 → x``,
``--x → x``, ... declared in ``symgrad.ops``) until none applies. Nodes the
outputs no longer reach are dropped simply by not being reachable.

    >>> import symgrad as sg
    >>> x = sg.symbols("x")
    >>> (out,), stats = sg.simplify([x * 1 + 0 * sg.exp(x) + sg.const(2) * 3])
    >>> out, stats.folded
    (x + 6.0, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from symgrad.expr import Expr, const, make, topological_order
from symgrad.ops import CONST

_MAX_REWRITES_PER_NODE = 16


@dataclass
class RewriteStats:
    """What a rewrite pass did: node counts before/after and what each rule removed."""

    nodes_before: int = 0
    nodes_after: int = 0
    folded: int = 0
    identities: Counter[str] = field(default_factory=Counter)
    dead: int = 0

    def __str__(self) -> str:
        rules = ", ".join(f"{name} ×{n}" for name, n in self.identities.most_common()) or "none"
        return (
            f"{self.nodes_before} → {self.nodes_after} nodes; {self.folded} constants folded; "
            f"identities: {rules}; {self.dead} dead nodes dropped"
        )


def _fold(node: Expr) -> Expr | None:
    """``node`` evaluated to a constant, or None if it cannot or should not be."""
    impl = node.op.impl
    if impl is None:
        return None
    values = []
    for arg in node.args:
        if arg.op is not CONST:
            return None
        values.append(float(arg.param))  # floats: an int power cannot explode here
    if node.param is not None:
        values.append(node.param)
    try:
        result = impl(*values)
    except (ArithmeticError, ValueError, TypeError):
        return None  # left for run time, where the error names the node
    if not isinstance(result, (int, float)):
        return None
    return const(result)


def _rewrite(node: Expr, stats: RewriteStats) -> Expr:
    for _ in range(_MAX_REWRITES_PER_NODE):
        if not node.args:
            return node
        folded = _fold(node)
        if folded is not None:
            stats.folded += 1
            return folded
        for rule in node.op.rewrites:
            replacement = rule(node.args, node.param)
            if replacement is not None:
                stats.identities[rule.description] += 1
                node = replacement
                break
        else:
            return node
    return node


def simplify_graph(
    roots: Sequence[Expr], order: list[Expr] | None = None
) -> tuple[list[Expr], list[Expr], RewriteStats]:
    """``simplify``, also returning the topological order of the new graph."""
    stats = RewriteStats()
    if order is None:
        order = topological_order(roots)
    stats.nodes_before = len(order)
    image: dict[Expr, Expr] = {}
    lookup = image.__getitem__
    for node in order:
        args = node.args
        if not args:
            image[node] = node
            continue
        new_args = tuple(map(lookup, args))
        rebuilt = node if new_args == args else make(node.op, new_args, node.param)
        image[node] = _rewrite(rebuilt, stats)
    new_roots = [image[r] for r in roots]
    new_order = topological_order(new_roots)
    kept = set(new_order)
    stats.nodes_after = len(new_order)
    stats.dead = sum(1 for n in order if image[n] is n and n not in kept)
    return new_roots, new_order, stats


def simplify(roots: Sequence[Expr]) -> tuple[list[Expr], RewriteStats]:
    """Rewrite the graph under ``roots``; return the new roots and what was done."""
    new_roots, _, stats = simplify_graph(roots)
    return new_roots, stats
