"""Rewrites: constant folding, the identities each op declares, dead-node elimination.

Rewriting happens as nodes are made. A node whose arguments are rewritten
is constant-folded when they are all numbers, else offered to its op's
``rewrites`` (``x*1 → x``, ``--x → x``, ... declared in ``symgrad.ops``);
what the first applicable rule returns was itself made this way, so it is
rewritten too. A given graph is rewritten in one bottom-up pass
(hash-consing makes equal results one node, so common subexpressions merge
for free); reverse mode makes its nodes rewritten from the start. Nodes the
outputs no longer reach are dropped simply by not being reachable.

    >>> import symgrad as sg
    >>> x = sg.symbols("x")
    >>> (out,), stats = sg.simplify([x * 1 + 0 * sg.exp(x) + sg.const(2) * 3])
    >>> out, stats.folded
    (x + 6.0, 1)
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad.expr import Expr, building, const, intern_node, topological_order
from symgrad.ops import CONST, by_name

# Rules build their results with rules applied; this bounds how deeply (rules do not cycle).
_MAX_NESTED_REWRITES = 64


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


def _fold(op: Any, args: tuple[Expr, ...], param: Any) -> Expr | None:
    """``op(args)``, all of them constants, evaluated; None if it cannot or should not be."""
    values = [float(arg.param) for arg in args]  # floats: an int power cannot explode here
    try:
        result = op.evaluate(values, param)
    except (ArithmeticError, ValueError, TypeError):
        return None  # left for run time, where the error names the node
    if not isinstance(result, (int, float)):
        return None
    return const(result)


@dataclass(frozen=True)
class _Triggers:
    """What lets one of an op's rules (or constant folding) possibly apply to a node.

    Checking it first skips the rule calls of most nodes, which no rule could touch.
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


def _may_apply(op: Any, args: tuple[Expr, ...], param: Any) -> bool:
    """Can folding or one of the op's rules possibly change ``op(args)`` with ``param``?"""
    triggers = _TRIGGERS.get(op) or _triggers(op)
    if triggers.always or (param is not None and param in triggers.params):
        return True
    all_constant = triggers.foldable
    for arg in args:
        if arg.op is CONST:
            if arg.param in triggers.constants:
                return True
        else:
            all_constant = False
            if arg.op in triggers.ops:
                return True
    return all_constant


class Rewriter:
    """Rewriting as nodes are made: of a whole graph, or of everything reverse mode builds.

    ``build`` makes the rewritten node for an op applied to rewritten
    arguments: folded, or what the first rule that applies returns (whose
    nodes are built the same way), else the node itself. Inside ``building()``
    every node made in this thread goes through ``build``, so no node that a
    rule would replace is ever made. ``image`` maps each node of a graph
    passed to ``graph`` to its rewritten form, so each is rewritten once.
    """

    def __init__(self) -> None:
        self.image: dict[Expr, Expr] = {}
        self._lookup = self.image.__getitem__
        self.stats = RewriteStats()
        self.changed = False  # did any node of a graph get a different image?
        self.operations_seen = 0  # nodes of graphs seen, and operations asked of build, so far
        self._made: list[Expr] = []  # what build returned (for the count of dead nodes)
        self._depth = 0

    def building(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, every node made in this thread is made by ``build``."""
        return building(self.build)

    def build(self, op: Any, args: tuple[Expr, ...], param: Any = None) -> Expr:
        """The rewritten node for ``op(args)`` with ``param``, given rewritten ``args``."""
        if not args:  # a symbol or a constant: nothing to rewrite, and not an operation asked for
            return intern_node(op, args, param)
        self.operations_seen += 1
        if _may_apply(op, args, param) and self._depth < _MAX_NESTED_REWRITES:
            self._depth += 1
            try:
                replacement = self._rewrite_once(op, args, param)
            finally:
                self._depth -= 1
            if replacement is not None:
                self._made.append(replacement)
                return replacement
        node = intern_node(op, args, param)
        self._made.append(node)
        return node

    def _rewrite_once(self, op: Any, args: tuple[Expr, ...], param: Any) -> Expr | None:
        """Fold ``op(args)`` or apply the first of its op's rules that applies; None if none does."""
        if op.impl is not None:
            for arg in args:
                if arg.op is not CONST:
                    break
            else:
                folded = _fold(op, args, param)
                if folded is not None:
                    self.stats.folded += 1
                    return folded
        for rule in op.rewrites:
            replacement: Expr | None = rule(args, param)
            if replacement is not None:
                self.stats.identities[rule.description] += 1
                return replacement
        return None

    def graph(self, roots: Sequence[Expr], order: list[Expr] | None = None) -> list[Expr]:
        """Rewrite every node under ``roots`` (``order``: their topological order, if known)."""
        image, lookup, build = self.image, self._lookup, self.build
        with self.building():
            for node in topological_order(roots) if order is None else order:
                if node in image:
                    continue
                args = node.args
                for arg in args:
                    if lookup(arg) is not arg:
                        args = tuple(map(lookup, args))
                        break
                # The usual case: a node whose arguments are unchanged and that no rule can
                # touch is its own image, and is not rebuilt.
                if args and (args is not node.args or _may_apply(node.op, args, node.param)):
                    current = image[node] = build(node.op, args, node.param)  # build counts it
                else:
                    self.operations_seen += 1
                    current = image[node] = node
                if current is not node:
                    self.changed = True
                    image.setdefault(current, current)
        return [image[r] for r in roots]

    def finish(self, new_order: list[Expr]) -> RewriteStats:
        """Count what is left and what died, given the topological order of the final graph."""
        self.stats.nodes_before = self.operations_seen
        self.stats.nodes_after = len(new_order)
        # One set, emptied in place of what is kept: a set of the whole order besides it would
        # double this pass's memory on a graph of millions of nodes.
        made = set(self._made)
        made.update(k for k, v in self.image.items() if k is v)
        made.difference_update(new_order)
        self.stats.dead = len(made)
        return self.stats


def simplify(roots: Sequence[Expr]) -> tuple[list[Expr], RewriteStats]:
    """Rewrite the graph under ``roots``; return the new roots and what was done."""
    rewriter = Rewriter()
    order = topological_order(roots)
    new_roots = rewriter.graph(roots, order)
    return new_roots, rewriter.finish(topological_order(new_roots))
