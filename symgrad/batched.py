"""The vectorised strategy over a batch: array code (``backend="numpy"``, reduced) as a few
NumPy operations on two buffers instead of one per node. This module plans (and chooses);
``symgrad.batched_code`` writes the code and makes what it calls at run time.

Array code computes each node of the graph as a NumPy operation on a batch row (a model's
activation over 100 samples, say): a micrograd MLP is thousands of calls on short rows. Here
the nodes are grouped as ``symgrad.vectorise`` groups them, by op, param and the groups of
their arguments, and each group is one line: the nodes that read the batch are rows of a 2-D
buffer ``V`` (rows × batch size), the others (functions of the parameters alone) slots of a
1-D buffer ``s``, broadcast along the batch where a row reads them (``s[...][:, None]``).

Sums (left-deep chains of ``+`` and ``-``) are grouped whole: a few terms written out, a long
sum gathered as a (members × terms × batch) block summed over its terms. A sum whose terms
are products of a batch-independent factor and a batch row, the rows the same for every
member (a layer's neurons all read the previous layer's activations; in the backward pass
each activation's adjoint reads every neuron's), is a contraction: the factors gathered into
a matrix times the rows, one ``numpy.matmul``. The reduced gradient's entries, sums over the
batch of products of two rows (``symgrad.array_code.BatchSums``), are blocks of an outer
product, one ``matmul`` each. Both change the order of additions: results agree with the
straight array code to rounding, not bit for bit.

What is not plain NumPy arrays of the parameters' shapes, with a batch along the batch inputs
alone and smaller than a block (``symgrad.arrays.BLOCK_ELEMENTS``), and any call whose
buffers hold inf or nan, runs the straight array code, which returns or raises what it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from symgrad.expr import Expr
from symgrad.ops import CONST, mul
from symgrad.shapes import Parameter
from symgrad.vectorise import INLINE_TERMS, _sums

DOT_TERMS = 2  # a sum with at least this many (factor × row) terms is a contraction
BATCHED_FROM = 100  # computed nodes: "auto" keeps smaller graphs straight-line (their code unchanged)
# "auto" picks the batched code where it expects it to be faster, by a cost model in nanoseconds
# per call at a small batch (fitted with benchmarks/bench_moons_step.py; the README has the figures).
STRAIGHT_NS_PER_NODE = 400.0
BATCHED_NS_PER_GROUP = 2500.0
BATCHED_NS_PER_CALL = 20000.0


@dataclass
class Group:
    """Nodes computed by one line: the same key (what they compute, over which groups)."""

    key: Any
    batched: bool  # rows of V (else slots of s)
    depth: int
    members: list[Expr] = field(default_factory=list)


class Dot(NamedTuple):
    """A contraction: ``sum(weights[i] * rows[i]) + offsets`` (each offset with its sign)."""

    weights: tuple[Expr, ...]  # batch-independent factors (slots of s)
    rows: tuple[Expr, ...]  # batch rows (rows of V)
    offsets: tuple[Expr, ...]
    signs: tuple[int, ...]  # the offsets'


@dataclass
class Reduced:
    """What the generated function returns through ``_done``: the value's and aux outputs' rows
    summed or returned, and the gradient as ``BatchSums`` gives it (products of factors)."""

    value: Expr
    aux: Sequence[Expr]
    factors: Sequence[Expr]
    products: Sequence[tuple[int, int]]
    negated: Sequence[int]
    reduce: str | None
    groups: list[tuple[int, ...]] | None  # the wrt parameters' shapes where one is an array
    bare: bool


@dataclass
class Plan:
    """Rows, slots and groups of a batched graph, before any code is written."""

    rows: dict[Expr, int]  # batch-dependent nodes -> their row of V
    slots: dict[Expr, int]  # batch-independent ones -> their slot of s
    groups: list[Group]
    sums: dict[Expr, tuple[tuple[Expr, ...], tuple[int, ...]]]
    dots: dict[Expr, Dot]  # a contraction's sum node -> its parts
    spread: list[Expr]  # outputs of s copied to rows of V (after the groups)
    size: int  # rows of V
    params: list[tuple[bool, int, tuple[int, ...]]]  # per parameter: batched, its first row/slot, shape
    constants: list[Expr]
    result: Reduced

    @property
    def computed(self) -> int:
        return sum(len(g.members) for g in self.groups)


def unsupported(options: Any, second_order: bool, wrt: Sequence[Parameter]) -> str | None:
    """Why compiled code of ``options`` cannot be batched (None: it can)."""
    if second_order:
        return "order=2"
    if options.reduce is None:
        return "reduce=None"
    if options.outputs != "one":
        return "several outputs"
    batch = set(options.batch)
    if not batch:
        return "no batch"
    if any(batch.intersection(p.elements) for p in wrt):
        return "a gradient by a batch input"
    return None


def choose(order: Sequence[Expr], params: Sequence[Parameter], batch: Sequence[Expr], result: Reduced,
           requested: str) -> tuple[Plan | None, str]:
    """The batched plan (None: straight array code) and why, for ``strategy=requested``."""
    computed = sum(1 for node in order if node.args)
    if requested == "auto" and computed < BATCHED_FROM:
        return None, f"auto: straight array code, {computed} computed nodes, fewer than {BATCHED_FROM}"
    found = plan(order, params, batch, result)
    if found is None:
        if requested == "vectorised":
            raise ValueError("strategy='vectorised' needs every op to have an array form and each array "
                             "parameter wholly in the batch or wholly out of it")
        return None, "auto: straight array code, an op has no array form (or a parameter is partly batched)"
    reason = f"batched: {len(found.groups)} groups over {found.computed} computed nodes, " \
             f"contractions: {sum(1 for g in found.groups if g.key[0] == 'dot')}"
    if requested != "auto":
        return found, f"strategy={requested!r}: {reason}"
    straight = STRAIGHT_NS_PER_NODE * computed
    batched = BATCHED_NS_PER_CALL + BATCHED_NS_PER_GROUP * len(found.groups)
    estimate = f"estimated {batched / 1e3:.3g} µs a call batched, {straight / 1e3:.3g} µs straight array code"
    return (found if batched < straight else None), f"auto: {reason}; {estimate}"


def _dot_terms(terms: Sequence[Expr], signs: Sequence[int], in_batch: set[Expr]) -> Dot | None:
    """A sum as a contraction if enough of its terms are a batch-independent factor times a
    batch row (either way round); None otherwise."""
    weights: list[Expr] = []
    rows: list[Expr] = []
    offsets: list[Expr] = []
    offset_signs: list[int] = []
    for term, sign in zip(terms, signs):
        if sign > 0 and term.op is mul:
            a, b = term.args
            if (a in in_batch) != (b in in_batch):
                weights.append(b if a in in_batch else a)
                rows.append(a if a in in_batch else b)
                continue
        offsets.append(term)
        offset_signs.append(sign)
    if len(weights) < DOT_TERMS:
        return None
    return Dot(tuple(weights), tuple(rows), tuple(offsets), tuple(offset_signs))


def plan(order: Sequence[Expr], params: Sequence[Parameter], batch: Sequence[Expr], result: Reduced) -> Plan | None:
    """Rows, slots and groups for ``order`` (topological); None if it cannot be batched."""
    batch_set = set(batch)
    batched = [bool(batch_set.intersection(p.elements)) for p in params]
    if any(b and not batch_set.issuperset(p.elements) for b, p in zip(batched, params)):
        return None
    in_batch = {e for b, p in zip(batched, params) if b for e in p.elements}
    for node in order:
        if node.args and not in_batch.isdisjoint(node.args):
            in_batch.add(node)
    outputs = [result.value, *result.aux, *result.factors]
    sums, _ = _sums(order, set(outputs))
    dots = {head: found for head, (terms, signs) in sums.items() if head in in_batch
            and (found := _dot_terms(terms, signs, in_batch)) is not None}

    def reads(node: Expr) -> Sequence[Expr]:
        if node in dots:
            weights, rows, offsets, _ = dots[node]
            return (*weights, *rows, *offsets)
        return sums[node][0] if node in sums else node.args

    needed = set(outputs)
    for node in reversed(order):
        if node in needed and node.args:
            needed.update(reads(node))
    groups = _grouped([n for n in order if n in needed], params, sums, dots, in_batch)
    if groups is None:
        return None
    rows: dict[Expr, int] = {}
    slots: dict[Expr, int] = {}
    layout = []
    for b, p in zip(batched, params):
        into = rows if b else slots
        layout.append((b, len(into), p.shape))
        for e in p.elements:
            into.setdefault(e, len(into))
    constants = [n for n in order if n.op is CONST and n in needed and n not in slots]
    for node in constants:
        slots[node] = len(slots)
    for group in groups:
        into = rows if group.batched else slots
        for node in group.members:
            into[node] = len(into)
    spread = [n for n in dict.fromkeys(outputs) if n not in rows]
    for node in spread:
        rows[node] = len(rows)
    return Plan(rows, slots, groups, sums, dots, spread, len(rows), layout, constants, result)


def _grouped(order: Sequence[Expr], params: Sequence[Parameter], sums: dict[Expr, Any], dots: dict[Expr, Dot],
             in_batch: set[Expr]) -> list[Group] | None:
    """The computed nodes of ``order`` in groups, ordered by depth (a group reads only shallower ones)."""
    group_of: dict[Expr, int] = {}  # node -> its group's number: 0 constants, 1... parameters
    for number, p in enumerate(params, start=1):
        group_of.update(dict.fromkeys(p.elements, number))
    depth = [0] * (len(params) + 1)
    first = len(depth)
    numbers: dict[Any, int] = {}
    groups: list[Group] = []

    def number_of(node: Expr) -> int:
        return group_of.get(node, 0)  # constants: group 0

    for node in order:
        if not node.args:
            continue
        if node in dots:
            weights, rows, offsets, offset_signs = dots[node]
            reads = (*map(number_of, weights), *map(number_of, rows), *map(number_of, offsets))
            key: Any = ("dot", reads, rows, offset_signs)
        elif node in sums:
            terms, signs = sums[node]
            reads = tuple(map(number_of, terms))
            key = ("sum" if len(terms) <= INLINE_TERMS else "long", reads, signs)
        else:
            if node.op.array_printer is None:
                return None
            reads = tuple(map(number_of, node.args))
            key = ("op", reads, node.op, node.param)
        found = numbers.get(key)
        if found is None:
            found = numbers[key] = first + len(groups)
            groups.append(Group(key, node in in_batch, 1 + max(depth[g] for g in reads)))
            depth.append(groups[-1].depth)
        groups[found - first].members.append(node)
        group_of[node] = found
    return sorted(groups, key=lambda g: g.depth)
