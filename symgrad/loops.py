"""A step repeated many times, written once in a loop: the code of a deep chain.

A graph built by a Python loop of many steps (``x = sin(x) * 1.01 + 0.1 * x0``, a million times)
is, in its topological order, one period of nodes repeated: node ``i + p`` has node ``i``'s op and
param, and each of its arguments is node ``i``'s own (an *invariant*, computed before the run) or
the node ``p`` places after it (the same step's, or the previous step's: the *state* it carries),
each argument the same way in every step. ``find_run`` finds the longest such run around the
middle of the order, and ``cut`` splits the graph around it (``pieces_of`` does both, and says whether
``strategy="auto"`` rolls it). Straight-line code writes a line per node and derives a backward graph
as large; here one step is rewritten and differentiated, on placeholders, and runs in a loop
(``symgrad.loop_code`` writes it). The function computes, in order:

- *before the loop*: what the run reads, its first state and its invariants;
- *the loop*: every step but the last, each keeping the state it starts from (for the reverse pass);
- *the tail*: the last step and all that follows it, over the final state: the value, and its
  gradient with respect to the ``wrt`` symbols it reads, to the state and to what it reads from
  before the loop;
- *the reverse loop*: one step's pullback a step at a time (the step recomputed from its state where
  the pullback needs it), the state's adjoint passed back, the invariants' adjoints added up;
- *before the loop, in reverse*: the gradient of ``Σ adjoint · value`` over what the loop and the tail
  read from there, plus the tail's own gradient.

Each piece is rewritten on its own, so the rounding may differ from the straight-line code's in the
last bits; and a rewrite that spans pieces is not made (``x0 + w`` before the loop, ``- w`` after it),
so with ``rewrites="all"`` a cancellation or an overflow it would remove stays. An error (a domain
error, an overflow) sends the call to the straight-line code of the whole graph, made when first
needed, which raises it naming the failing node.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from symgrad.expr import Expr, make, symbol
from symgrad.names import Namer
from symgrad.ops import CONST, SYMBOL
from symgrad.shapes import Parameter

# ``strategy="auto"`` rolls a run of at least this many steps covering at least half the graph:
# a shorter chain runs faster straight-line (the loop's own work per step: its iteration, the
# stored state), and compiles fast enough.
AUTO_MIN_STEPS = 5000
MAX_PERIOD = 256  # nodes in one step, at most


@dataclass
class Run:
    """``steps`` periods of ``period`` nodes from ``start`` in ``order``, each the one before repeated."""

    order: Sequence[Expr]
    index: dict[Expr, int]  # each node's position in ``order``
    start: int
    period: int
    steps: int


def _kind(node: Expr) -> tuple[Any, ...]:
    """What two nodes of a run share: op, arity, and param (a float's bits, so 0.0 is not -0.0)."""
    param = node.param
    return node.op, len(node.args), type(param), param.hex() if type(param) is float else param


def _repeats(order: Sequence[Expr], index: dict[Expr, int], i: int, period: int) -> int | None:
    """Is node ``i + period`` node ``i`` again, one period on: its kind, over the same invariants
    and the nodes one period after node ``i``'s other arguments? If so, its pattern: a bit for each
    argument, set where it is the same node."""
    node, later = order[i], order[i + period]
    if node.op is not later.op or _kind(node) != _kind(later):
        return None
    same = 0
    for a, b in zip(node.args, later.args):
        same += same
        if a is b:
            same += 1
        else:
            j = index[a] + period
            if j >= len(order) or order[j] is not b:
                return None
    return same


def find_run(order: Sequence[Expr]) -> Run | None:
    """The longest run of repeated steps through the middle of ``order``, or through its first or
    last quarter (two chains side by side put the middle between them); None if none is there."""
    index: dict[Expr, int] = {}
    runs: list[Run] = []
    for at in (len(order) // 2, len(order) // 4, 3 * len(order) // 4):
        if not any(run.start <= at < run.start + run.steps * run.period for run in runs):
            found = _run_through(order, index, at)
            runs.extend([] if found is None else [found])
    return max(runs, key=lambda run: run.steps * run.period, default=None)


def _run_through(order: Sequence[Expr], index: dict[Expr, int], middle: int) -> Run | None:
    """The run through node ``middle``: its period is the shortest that repeats around it, and it
    reaches as far as it repeats both ways, each node in the pattern of the node a period on (not an
    invariant read, then the node after it). ``index`` is filled with each node's position if empty."""
    n = len(order)
    for period in range(1, min(MAX_PERIOD, middle // 2, (n - middle) // 2) + 1):
        if any(_kind(order[middle + j]) != _kind(order[middle + j - period]) for j in range(-period, period)):
            continue
        if not index:
            index.update(zip(order, range(n)))
        patterns = [_repeats(order, index, i, period) for i in range(middle - period, middle + period)]
        if None not in patterns and patterns[:period] == patterns[period:]:
            break
    else:
        return None
    # Node i repeats at i + period for low <= i < high, in the pattern node i + period repeats in.
    low, high = middle - period, middle + period
    ahead = collections.deque(patterns[:period], maxlen=period)  # of nodes low .. low + period - 1
    while low > 0 and (found := _repeats(order, index, low - 1, period)) is not None and found == ahead[-1]:
        ahead.appendleft(found)
        low -= 1
    behind = collections.deque(patterns[period:], maxlen=period)  # of nodes high - period .. high - 1
    while high + period < n and (found := _repeats(order, index, high, period)) is not None and found == behind[0]:
        behind.append(found)
        high += 1
    return Run(order, index, low, period, (high + period - low) // period)


class _Placeholders:
    """Fresh symbols for the pieces' inputs: no name among the user's symbols, so a piece that holds
    both (the tail) keeps them apart."""

    def __init__(self, taken: set[str]) -> None:
        self.namer = Namer(taken)

    def __call__(self, wanted: str) -> Expr:
        return symbol(self.namer.claim(wanted))

    def of(self, key: Any, table: dict[Any, Expr], wanted: str) -> Expr:
        """``table``'s placeholder for ``key``, made if it has none yet (a symbol is its own)."""
        found = table.get(key)
        if found is None:
            found = table[key] = key if isinstance(key, Expr) and key.op is SYMBOL else self(f"{wanted}{len(table)}")
        return found


@dataclass
class Pieces:
    """A run's graph cut into what the code computes before, in, and after its loop."""

    run: Run
    state: list[Expr]  # placeholders of the carried values, a step's inputs from the step before
    step: list[Expr]  # the next state, over ``state`` and ``invariants``' placeholders
    entries: list[Expr]  # the first state: nodes before the run
    invariants: dict[Expr, Expr]  # what each step reads from before the run -> its placeholder
    boundary: dict[Expr, Expr]  # what the tail reads from before the run -> its placeholder
    tail: Expr  # the output, from the run's last step on, over the final ``state``
    fresh: _Placeholders  # makes more placeholders, none of them a name of the graph's

    @property
    def loops(self) -> int:
        return self.run.steps - 1


def cut(run: Run, root: Expr, symbols: Sequence[Expr]) -> Pieces | None:
    """The pieces of a graph with one output ``root`` around ``run`` (None where the run does not
    close: a step reads a value older than the step before, or the tail a step's before the last)."""
    order, index, start, period = run.order, run.index, run.start, run.period
    fresh = _Placeholders({s.param for s in symbols})
    carried: dict[int, Expr] = {}  # a position in the step -> the placeholder of its previous value
    entries: dict[int, Expr] = {}
    invariants: dict[Expr, Expr] = {}
    template: list[Expr] = []
    for r in range(period):
        node, later = order[start + r], order[start + r + period]
        args = []
        for a, b in zip(node.args, later.args):
            j = index[a]
            if a is b:
                if j >= start:
                    return None  # a node of the run read by two steps
                args.append(a if a.op is CONST else fresh.of(a, invariants, "invariant"))
            elif j >= start:
                args.append(template[j - start])
            elif j >= start - period:
                q = j + period - start
                entries[q] = a
                args.append(fresh.of(q, carried, "state"))
            else:
                return None
        template.append(make(node.op, tuple(args), node.param))
    last = start + (run.steps - 1) * period
    boundary: dict[Expr, Expr] = {}
    rebuilt: dict[Expr, Expr] = {}
    for j in range(last, len(order)):
        node = order[j]
        if not node.args:
            rebuilt[node] = node
            continue
        args = []
        for a in node.args:
            k = index[a]
            if k >= last:
                args.append(rebuilt[a])
            elif k >= start:
                q = k - (last - period)
                if q not in carried:
                    return None
                args.append(carried[q])
            else:  # (an invariant keeps its placeholder)
                args.append(a if a.op is CONST else invariants[a] if a in invariants else
                            fresh.of(a, boundary, "boundary"))
        rebuilt[node] = make(node.op, tuple(args), node.param)
    positions = sorted(carried)
    return Pieces(run, [carried[q] for q in positions], [template[q] for q in positions],
                  [entries[q] for q in positions], invariants, boundary, rebuilt[root], fresh)


def pieces_of(root: Expr, params: Sequence[Parameter], forced: bool, graph_order: Sequence[Expr]
           ) -> tuple[Pieces, str] | None:
    """The pieces of the graph of ``root`` around its run, and why it is rolled; None where it is not
    (``forced``, ``strategy="loop"``: a ValueError)."""
    n = len(graph_order)
    if not forced and n < 2 * AUTO_MIN_STEPS:
        return None
    run = find_run(graph_order)
    pieces = None if run is None else cut(run, root, [e for p in params for e in p.elements])
    if pieces is None or not pieces.state:
        if forced and run is not None:
            raise ValueError(f"strategy='loop' found a step of {run.period} nodes repeated {run.steps:,} times, but "
                             "cannot roll it: a step reads a value from two or more steps back, or what follows "
                             "the run reads a step before its last (see symgrad.loops); use 'straight' or 'auto'")
        if forced:
            raise ValueError("strategy='loop' found no step repeated through the middle of the graph "
                             "(see symgrad.loops); use 'straight' or 'auto'")
        return None
    covered = pieces.run.steps * pieces.run.period
    if forced:
        return pieces, "strategy='loop'"
    if pieces.run.steps < AUTO_MIN_STEPS or 2 * covered < n:
        return None
    return pieces, f"auto: {covered:,} of {n:,} nodes repeat a step"
