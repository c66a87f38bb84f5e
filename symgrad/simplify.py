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
    (6.0 + x, 1)
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

    Checking it first skips the rule calls of most nodes, which no rule could touch; a node
    is offered only to the rules its arguments trigger, and those tried always.
    """

    rules: tuple[Any, ...]  # the op's rules (its exact ones, for ``rewrites="exact"``)
    always: tuple[Any, ...]  # those of them to try whatever the arguments
    keys: frozenset[Any]  # an argument's op, or a constant argument's value, that triggers rules
    params: frozenset[Any]  # the node's param is one of these
    foldable: bool  # all arguments constant: fold
    # trigger keys found among a node's arguments -> the rules to try, in the op's order
    triggered: dict[Any, tuple[Any, ...]] = field(default_factory=dict)

    def rules_for(self, keys: tuple[Any, ...]) -> tuple[Any, ...]:
        found = self.triggered.get(keys)
        if found is None:
            found = self.triggered[keys] = tuple(
                rule for rule in self.rules
                if rule.triggers is None or any(_key(t) in keys for t in rule.triggers))
        return found


def _key(trigger: str | float) -> Any:
    """A trigger as a key: an op name means the op; a number, a constant of that value."""
    return by_name(trigger) if isinstance(trigger, str) else trigger


_TRIGGERS: dict[Any, _Triggers] = {}  # of all an op's rules
_EXACT_TRIGGERS: dict[Any, _Triggers] = {}  # of its exact ones (``rewrites="exact"``)
REWRITES = ("all", "exact")


def _triggers(op: Any, found_by: dict[Any, _Triggers]) -> _Triggers:
    exact_only = found_by is _EXACT_TRIGGERS
    # Under rewrites="exact" an inexact rule gives way to its exact variant, if it has one.
    exact = [getattr(rule, "exact", True) for rule in op.rewrites]  # a rule not marked is taken as exact
    rules = tuple(rule if is_exact or not exact_only else rule.exact_variant
                  for rule, is_exact in zip(op.rewrites, exact)
                  if is_exact or not exact_only or hasattr(rule, "exact_variant"))
    keys = frozenset(_key(t) for rule in rules for t in rule.triggers or ())
    params = frozenset(p for rule in rules for p in getattr(rule, "params", ()))
    found = _Triggers(rules, tuple(rule for rule in rules if rule.triggers is None), keys, params,
                      op.impl is not None)
    found_by[op] = found
    return found


class Rewriter:
    """Rewriting as nodes are made: of a whole graph, or of everything reverse mode builds.

    ``build`` makes the rewritten node for an op applied to rewritten
    arguments: folded, or what the first rule that applies returns (whose
    nodes are built the same way), else the node itself. Inside ``building()``
    every node made in this thread goes through ``build``, so no node that a
    rule would replace is ever made. ``image`` maps each node of a graph
    passed to ``graph`` to its rewritten form, so each is rewritten once.
    ``rewrites="exact"`` applies only the rules marked exact (``symgrad.rules.rule``): the
    rewritten node computes the same float as the node written, bit for bit.
    """

    def __init__(self, rewrites: str = "all") -> None:
        if rewrites not in REWRITES:
            raise ValueError(f"rewrites must be one of {', '.join(map(repr, REWRITES))}, got {rewrites!r}")
        self.exact = rewrites == "exact"
        self._triggers = _EXACT_TRIGGERS if self.exact else _TRIGGERS
        self.image: dict[Expr, Expr] = {}
        self._lookup = self.image.__getitem__
        self.stats = RewriteStats()
        self.changed = False  # did any node of a graph get a different image?
        self.operations_seen = 0  # nodes of graphs seen, and operations asked of build, so far
        self._made: list[Expr] = []  # what build and the graph pass returned (for the count of dead nodes)
        self._depth = 0

    def building(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, every node made in this thread is made by ``build``."""
        return building(self.build)

    def build(self, op: Any, args: tuple[Expr, ...], param: Any = None) -> Expr:
        """The rewritten node for ``op(args)`` with ``param``, given rewritten ``args``."""
        if not args:  # a symbol or a constant: nothing to rewrite, and not an operation asked for
            return intern_node(op, args, param)
        self.operations_seen += 1
        node = self._rewrite_once(op, args, param)
        if node is None:
            node = intern_node(op, args, param)
        self._made.append(node)
        return node

    def _rewrite_once(self, op: Any, args: tuple[Expr, ...], param: Any) -> Expr | None:
        """``op(args)`` folded, or what the first rule that applies returns; None if none does.

        The rules tried are those the arguments trigger (their ops, or the values of constants
        among them) and those tried always; a node that triggers none is left at once.
        """
        triggers = self._triggers.get(op) or _triggers(op, self._triggers)
        keys = triggers.keys
        first = second = None  # the trigger keys found (first is ... past two kinds)
        all_constant = triggers.foldable
        for arg in args:
            if arg.op is CONST:
                key = arg.param
            else:
                all_constant = False
                key = arg.op
            if key in keys and key != first and key != second:
                if first is None:
                    first = key
                elif second is None:
                    second = key
                else:
                    first = ...  # three kinds of trigger: try every rule
        if self._depth >= _MAX_NESTED_REWRITES:
            return None
        if all_constant:
            folded = _fold(op, args, param)
            if folded is not None:
                self.stats.folded += 1
                return folded
        if all_constant or first is ... or (param is not None and param in triggers.params):
            rules = triggers.rules
        elif first is None:
            rules = triggers.always
        else:
            rules = triggers.rules_for((first,) if second is None else (first, second))
        if not rules:
            return None
        self._depth += 1
        try:
            for rule in rules:
                replacement: Any = rule(args, param)
                if replacement is not None:
                    if type(replacement) is tuple:  # a rule that makes several rewrites names the one it made
                        description, replacement = replacement
                    else:
                        description = rule.description
                    self.stats.identities[description] += 1
                    return replacement  # type: ignore[no-any-return]  # an Expr, once a description is taken off
        finally:
            self._depth -= 1
        return None

    def _as_written(self, node: Expr) -> Expr:
        """The image of a node whose arguments are their own images: itself (not made again) if no
        rule changes it, the usual case."""
        self.operations_seen += 1
        replacement = self._rewrite_once(node.op, node.args, node.param) if node.args else None
        image = node if replacement is None else replacement
        self._made.append(image)
        return image

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
                if args is not node.args:
                    current = image[node] = build(node.op, args, node.param)  # build counts it
                else:
                    current = image[node] = self._as_written(node)
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
        made = set(self._made)  # every image included: build and the graph pass list what they return
        made.difference_update(new_order)
        self.stats.dead = len(made)
        return self.stats


def simplify(roots: Sequence[Expr], rewrites: str = "all") -> tuple[list[Expr], RewriteStats]:
    """Rewrite the graph under ``roots`` (with only the exact rules: ``rewrites="exact"``); return
    the new roots and what was done."""
    rewriter = Rewriter(rewrites)
    order = topological_order(roots)
    new_roots = rewriter.graph(roots, order)
    return new_roots, rewriter.finish(topological_order(new_roots))
