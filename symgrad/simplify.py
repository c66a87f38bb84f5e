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
from typing import Any

from symgrad.expr import Expr, const, make, topological_order
from symgrad.ops import CONST, by_name

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
    """``node``, whose arguments are all constants, evaluated; None if it cannot or should not be."""
    values = [float(arg.param) for arg in node.args]  # floats: an int power cannot explode here
    if node.param is not None:
        values.append(node.param)
    try:
        result = node.op.impl(*values)
    except (ArithmeticError, ValueError, TypeError):
        return None  # left for run time, where the error names the node
    if not isinstance(result, (int, float)):
        return None
    return const(result)


@dataclass(frozen=True)
class _Triggers:
    """What lets one of an op's rules (or constant folding) possibly apply to a node.

    Checking it first skips most rule calls (measured: ~3/4 of all nodes).
    """

    always: bool  # some rule must always be tried
    ops: frozenset[Any]  # an argument with one of these ops
    constants: frozenset[float]  # a constant argument equal to one of these
    params: frozenset[Any]  # the node's param is one of these
    foldable: bool  # all arguments constant: fold


_TRIGGERS: dict[Any, _Triggers] = {}


def _triggers(op: Any) -> _Triggers:
    names: set[str] = set()
    constants: set[float] = set()
    params: set[Any] = set()
    always = False
    for rule in op.rewrites:
        if rule.triggers is None:
            always = True
        for trigger in rule.triggers or ():
            (names if isinstance(trigger, str) else constants).add(trigger)
        params.update(getattr(rule, "params", ()))
    found = _Triggers(always, frozenset(by_name(n) for n in names), frozenset(constants), frozenset(params),
                      op.impl is not None)
    _TRIGGERS[op] = found
    return found


def _may_apply(node: Expr) -> bool:
    """Can folding or one of the op's rules possibly change ``node``?"""
    triggers = _TRIGGERS.get(node.op) or _triggers(node.op)
    if triggers.always or (node.param is not None and node.param in triggers.params):
        return True
    all_constant = triggers.foldable
    for arg in node.args:
        if arg.op is CONST:
            if arg.param in triggers.constants:
                return True
        else:
            all_constant = False
            if arg.op in triggers.ops:
                return True
    return all_constant


class Rewriter:
    """Bottom-up rewriting with a memo: of a whole graph, or of new nodes as they appear.

    ``image`` maps every node seen to its rewritten form (rewritten forms map
    to themselves), so a node is rewritten once however often it is met.
    Reverse mode calls ``expr`` on each new adjoint term, which rewrites the
    handful of new nodes in it and stops at nodes already seen.
    """

    def __init__(self) -> None:
        self.image: dict[Expr, Expr] = {}
        self._lookup = self.image.__getitem__
        self.stats = RewriteStats()
        self.changed = False  # did any node get a different image?
        self.settled = 0  # nodes rewritten so far

    def _settle(self, node: Expr) -> Expr:
        """Rewrite ``node``, whose arguments are all in ``image`` already."""
        image = self.image
        self.settled += 1
        args = node.args
        if not args:
            image[node] = node
            return node
        lookup = self._lookup
        for arg in args:
            if lookup(arg) is not arg:
                current = make(node.op, tuple(map(lookup, args)), node.param)
                break
        else:  # the usual case: every argument is its own image
            current = node
        if _may_apply(current):
            current = self._apply_rules(current)
        image[node] = current
        if current is not node:
            self.changed = True
            image.setdefault(current, current)
        return current

    def _apply_rules(self, current: Expr) -> Expr:
        """Fold ``current`` or apply its op's rules until none applies (or it becomes a leaf)."""
        for _ in range(_MAX_REWRITES_PER_NODE):
            op = current.op
            args = current.args
            param = current.param
            if op.impl is not None:
                for arg in args:
                    if arg.op is not CONST:
                        break
                else:
                    folded = _fold(current)
                    if folded is not None:
                        self.stats.folded += 1
                        return folded
            for rule in op.rewrites:
                replacement = rule(args, param)
                if replacement is not None:
                    self.stats.identities[rule.description] += 1
                    current = replacement
                    break
            else:
                return current
            if not current.args or not _may_apply(current):
                return current
        return current

    def graph(self, roots: Sequence[Expr], order: list[Expr] | None = None) -> list[Expr]:
        """Rewrite every node under ``roots`` (``order``: their topological order, if known)."""
        settle, image = self._settle, self.image
        for node in topological_order(roots) if order is None else order:
            if node not in image:
                settle(node)
        return [image[r] for r in roots]

    def expr(self, root: Expr) -> Expr:
        """Rewrite the nodes of ``root`` not seen before (iterative; stops at seen nodes)."""
        image = self.image
        found = image.get(root)
        if found is not None:
            return found
        settle = self._settle
        for arg in root.args:
            if arg not in image:
                break
        else:  # the usual case in reverse mode: only the root is new
            return settle(root)
        stack = [root]
        while stack:
            node = stack[-1]
            for arg in node.args:
                if arg not in image:
                    stack.append(arg)
                    break
            else:  # every argument is rewritten (the usual case for the root at once)
                stack.pop()
                if node not in image:
                    settle(node)
        return image[root]

    def finish(self, new_order: list[Expr]) -> RewriteStats:
        """Count what is left and what died, given the topological order of the final graph."""
        kept = set(new_order)
        self.stats.nodes_before = self.settled
        self.stats.nodes_after = len(new_order)
        self.stats.dead = sum(1 for k, v in self.image.items() if k is v and k not in kept)
        return self.stats


def simplify(roots: Sequence[Expr]) -> tuple[list[Expr], RewriteStats]:
    """Rewrite the graph under ``roots``; return the new roots and what was done."""
    rewriter = Rewriter()
    order = topological_order(roots)
    new_roots = rewriter.graph(roots, order)
    return new_roots, rewriter.finish(topological_order(new_roots))
