"""The vectorised strategy: a wide scalar graph as a few NumPy operations over one buffer.

A graph built by a Python loop (Rosenbrock over a vector, a sum over data points, an MLP) is
wide: thousands of nodes with the same op over arguments of the same kind. Here every node
gets a slot in one float64 buffer ``v``, and the nodes are grouped by what they compute: the
same op (and param) over arguments from the same groups. A group is one line of NumPy,
``v[300:400] = v[0:100] * v[100:200]``, its members stored side by side in the graph's
topological order, so that the groups reading it find their operands as slices (or one
value, broadcast); where they do not, a precomputed index array gathers them.

Left-deep chains of ``+`` and ``-`` whose inner links are used once are one sum: up to
``INLINE_TERMS`` terms are written out left to right, as the straight-line code adds them (the
same rounding); a longer sum (``sum(...)`` over a loop) is one ``numpy.add.reduce`` of its terms,
whose pairwise summation can change the last bits (it is usually the more accurate).

Ops compute with NumPy's functions (``numpy.exp``...), which may differ from ``math``'s in the
last bit. NumPy gives inf or nan where ``math`` raises: when any slot of ``v`` is not finite,
the call is computed again by the straight-line code, which returns what it returns or raises
the ``EvaluationError`` naming the subexpression, exactly as ``strategy="straight"`` does.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad.backends import ARRAY, PYTHON, reserved_names
from symgrad.codegen import Emitted, TemplateCache
from symgrad.expr import Expr, to_text
from symgrad.literals import format_number
from symgrad.names import Namer, comment_text, identifier
from symgrad.ops import CONST, add, sub
from symgrad.shapes import Parameter, flat_values, numpy_module

INLINE_TERMS = 8  # a sum of more terms is one numpy.add.reduce
VECTORISE_FROM = 1000  # nodes: "auto" plans graphs at least this big (smaller ones never gain) ...
# ... and vectorises those it expects to run faster, by a cost model in nanoseconds per call
# (fitted with benchmarks/bench_vectorised.py's sizes; the README has the figures).
STRAIGHT_NS_PER_NODE = 12.0
VECTOR_NS_PER_NODE = 0.9
VECTOR_NS_PER_GROUP = 450.0
VECTOR_NS_PER_CALL = 4500.0


@dataclass
class Group:
    key: Any
    members: list[Expr] = field(default_factory=list)
    depth: int = 0
    number: int = 0  # what other groups' keys call it (leaves: 0 the constants, 1... the parameters)
    arg_groups: tuple[int, ...] = ()  # the numbers of its arguments' (a sum's terms') groups


@dataclass
class Plan:
    """Slots and groups of a graph, before any code is written."""

    slots: dict[Expr, int]
    leaves: int  # slots [0, leaves) hold the parameters and constants
    groups: list[Group]
    sums: dict[Expr, tuple[tuple[Expr, ...], tuple[int, ...]]]  # a sum's node -> its terms and their signs
    size: int

    @property
    def width(self) -> float:
        return (self.size - self.leaves) / max(1, len(self.groups))


def _sums(order: Sequence[Expr], outputs: set[Expr]) -> tuple[dict[Expr, tuple[tuple[Expr, ...], Any]], set[Expr]]:
    """The sums: each add/sub node heading a left-deep chain, its terms and their signs; and the
    add/sub nodes a sum absorbed (used once, as the left operand of the next link)."""
    uses = Counter(a for a in itertools.chain.from_iterable(map(_args_of, order)) if a.op is add or a.op is sub)
    chains: dict[Expr, tuple[list[Expr], list[int]]] = {}
    absorbed: set[Expr] = set()
    for node in order:
        op = node.op
        if op is add or op is sub:
            left, right = node.args
            if left in chains and uses[left] == 1 and left not in outputs:
                terms, signs = chains.pop(left)  # the left-deep chain goes on: the same order of additions
                absorbed.add(left)
            else:
                terms, signs = [left], [1]
            terms.append(right)
            signs.append(1 if op is add else -1)
            chains[node] = (terms, signs)
    return {node: (tuple(terms), tuple(signs)) for node, (terms, signs) in chains.items()}, absorbed


def plan(order: Sequence[Expr], params: Sequence[Parameter], outputs: Sequence[Expr]) -> Plan | None:
    """Slots and groups for the nodes of ``order`` (topological); None if an op has no array form."""
    sums, absorbed = _sums(order, set(outputs))
    slots: dict[Expr, int] = {}
    group_of: dict[Expr, int] = {}  # node -> its group's number (leaves: 0 constants, 1... parameters)
    for number, p in enumerate(params, start=1):
        for e in p.elements:
            group_of[e] = number
            slots.setdefault(e, len(slots))
    constants = [node for node in order if node.op is CONST]
    group_of.update(dict.fromkeys(constants, 0))
    for node in constants:
        slots[node] = len(slots)
    leaves = len(slots)
    skipped = dict.fromkeys(absorbed, _ABSORBED)  # a node's sum, or that a sum absorbed it
    skipped.update(sums)
    numbers: dict[Any, int] = {}  # a group's key -> its number: keys hold numbers, never keys
    groups: list[Group] = []
    depth = [0] * (len(params) + 1)
    first = len(depth)
    group_number = group_of.__getitem__
    array_ops: set[Any] = set()
    for node in order:
        args = node.args
        if not args:
            continue
        terms = skipped.get(node)
        if terms is _ABSORBED:
            continue
        if terms is None:
            op = node.op
            if op not in array_ops:
                if op.array_printer is None:
                    return None
                array_ops.add(op)
            key: Any = (op, node.param, tuple(map(group_number, args)))
        elif len(terms[0]) <= INLINE_TERMS:
            key = (terms[1], tuple(map(group_number, terms[0])))
        else:
            key = node  # one long sum: a group of its own
        number = numbers.get(key)  # type: ignore[assignment]  # an int once the group is made
        if number is None:
            number = numbers[key] = first + len(groups)
            arg_groups = key[-1] if type(key) is tuple else tuple(map(group_number, terms[0]))
            groups.append(Group(key, depth=1 + max([depth[g] for g in arg_groups]), number=number,
                                 arg_groups=arg_groups))
            depth.append(groups[-1].depth)
        groups[number - first].members.append(node)
        group_of[node] = number
    del group_of, group_number, skipped, numbers  # before the slots of the computed nodes: a node's entry each
    ordered = sorted(groups, key=lambda g: g.depth)
    for group in ordered:
        for node in group.members:
            slots[node] = len(slots)
    return Plan(slots, leaves, ordered, sums, len(slots))


_args_of = operator.attrgetter("args")
_ABSORBED: Any = object()  # in place of a sum: a node a sum absorbed


def choose(order: Sequence[Expr], params: Sequence[Parameter], outputs: Sequence[Expr], requested: str
           ) -> tuple[Plan | None, str]:
    """The plan to vectorise with (None: straight-line code) and why, for ``strategy=requested``."""
    if requested == "straight":
        return None, "strategy='straight'"
    if requested == "auto" and len(order) < VECTORISE_FROM:
        return None, f"auto: {len(order)} nodes, fewer than {VECTORISE_FROM}"
    if requested == "auto":  # a deep graph loses whatever its groups: known without planning them
        computed = sum(map(bool, map(_args_of, order)))
        straight = STRAIGHT_NS_PER_NODE * computed
        levels = _levels(order, enough=math.ceil((straight - VECTOR_NS_PER_CALL) / VECTOR_NS_PER_GROUP))
        least = VECTOR_NS_PER_CALL + VECTOR_NS_PER_GROUP * levels
        if least >= straight:
            return None, (f"auto: at least {levels} levels deep over {computed} computed nodes (a group a level "
                          f"at least); estimated {least / 1e3:.3g} µs a call vectorised or more, "
                          f"{straight / 1e3:.3g} µs straight-line")
    found = plan(order, params, outputs)
    if found is None:
        if requested == "vectorised":
            raise ValueError("strategy='vectorised' needs every op to have an array form "
                             "(a primitive needs array_impl=)")
        return None, "auto: an op has no array form"
    computed = found.size - found.leaves
    reason = f"{len(found.groups)} groups over {computed} computed nodes ({found.width:.0f} per group)"
    if requested == "auto":
        straight = STRAIGHT_NS_PER_NODE * computed
        vectorised = VECTOR_NS_PER_CALL + VECTOR_NS_PER_GROUP * len(found.groups) + VECTOR_NS_PER_NODE * computed
        estimate = f"estimated {vectorised / 1e3:.3g} µs a call vectorised, {straight / 1e3:.3g} µs straight-line"
        if vectorised >= straight:
            return None, f"auto: {reason}; {estimate}"
        return found, f"auto: {reason}; {estimate}"
    return found, f"strategy={requested!r}: {reason}"


def _levels(order: Sequence[Expr], enough: int) -> int:
    """A lower bound on the groups ``plan`` makes of ``order``, found no higher than ``enough`` (the
    walk stops there: a chain need not be walked to its end to be known too deep): a group is one
    level deeper than its arguments' groups, and a sum (which absorbs a chain of add/sub nodes) one
    deeper than its terms', so the longest path counting every op but add and sub."""
    level: dict[Expr, int] = {}
    get = level.get
    deepest = 0
    for node in order:
        args = node.args
        if args:
            found = max([get(a, 0) for a in args])
            if node.op is not add and node.op is not sub:
                found += 1
                if found > deepest:
                    deepest = found
                    if deepest >= enough:
                        break
            level[node] = found
    return deepest


class Writer:
    """The source of one vectorised function: operand texts, index arrays, the lines."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.arrays: dict[str, Any] = {}  # index arrays and constants the code reads, by name
        self._index_names: dict[tuple[int, ...], str] = {}

    def index(self, positions: Sequence[int]) -> str:
        """The name of an index array holding ``positions`` (one per distinct tuple)."""
        key = tuple(positions)
        name = self._index_names.get(key)
        if name is None:
            name = self._index_names[key] = f"_i{len(self._index_names)}"
            self.arrays[name] = key
        return name

    def stream(self, positions: Sequence[int], buffer: str = "v") -> str:
        """``buffer`` read at ``positions``: one slot (broadcast), a slice, or a gather."""
        if same_slot(positions):
            return f"{buffer}[{positions[0]}]"
        first, step = positions[0], positions[1] - positions[0]
        stop = first + step * len(positions)
        # (list comparisons run in C: a group may have 10^5 members)
        if step > 0 and (positions if type(positions) is list else list(positions)) == list(range(first, stop, step)):
            return f"{buffer}[{first}:{stop}]" if step == 1 else f"{buffer}[{first}:{stop}:{step}]"
        return f"{buffer}[{self.index(positions)}]"

    def operands(self, streams: Sequence[Sequence[Expr]]) -> list[str]:
        """The texts of a group's operands: a constant the same for every member as a literal,
        unless every operand is one (the line would compute in Python floats, not NumPy's)."""
        texts = [_literal(nodes[0].param) if nodes[0].op is CONST and all(n is nodes[0] for n in nodes) else None
                 for nodes in streams]
        if all(t is not None for t in texts):
            texts = [None] * len(texts)
        return [t if t is not None else self.stream([self.plan.slots[n] for n in nodes])
                for t, nodes in zip(texts, streams)]

    def group_line(self, group: Group, templates: TemplateCache) -> str:
        members = group.members
        start = self.plan.slots[members[0]]
        target = f"v[{start}]" if len(members) == 1 else f"v[{start}:{start + len(members)}]"
        sums = self.plan.sums
        terms, signs = sums.get(members[0], (members[0].args, None))
        if signs is not None and len(terms) > INLINE_TERMS:
            code = _long_sum(self, terms, signs)
        elif signs is not None:
            texts = self.operands([[sums[m][0][j] for m in members] for j in range(len(terms))])
            code = texts[0] + "".join(f" {'+' if s > 0 else '-'} {t}" for s, t in zip(signs[1:], texts[1:]))
        else:
            _, format_parts = templates(members[0].op, members[0].param)
            code = format_parts(self.operands([[m.args[j] for m in members] for j in range(len(terms))]))
        shown = comment_text(to_text(members[0], limit=60))
        return f"    {target} = {code}  # {shown}" + ("" if len(members) == 1 else f" ... ×{len(members)}")


def same_slot(positions: Sequence[int]) -> bool:
    """Whether every position is the first."""
    return len(positions) == 1 or positions.count(positions[0]) == len(positions)


def _long_sum(writer: Writer, terms: Sequence[Expr], signs: Sequence[int]) -> str:
    slots = writer.plan.slots
    plus = [slots[t] for t, s in zip(terms, signs) if s > 0]
    minus = [slots[t] for t, s in zip(terms, signs) if s < 0]
    code = _summed(writer, plus) if plus else "0.0"
    return f"{code} - {_summed(writer, minus)}" if minus else code


def _summed(writer: Writer, positions: list[int]) -> str:
    """The sum of ``v`` at ``positions``: a slot that is every term is one product (its stream
    would read it once)."""
    if len(positions) == 1:
        return writer.stream(positions)
    if same_slot(positions):
        return f"{len(positions)} * {writer.stream(positions)}"
    return f"_sum({writer.stream(positions)})"


def _literal(value: int | float) -> str:
    text = format_number(float(value))
    return f"({text})" if text.startswith("-") else text


# (the writer, the op templates) -> the lines of a reverse pass after the forward groups, into the
# adjoint buffer ``a``, and the namespace names they use (symgrad.reverse_groups)
Reverse = Callable[[Writer, TemplateCache], tuple[list[str], set[str]]]


def emit_vectorised(name: str, found: Plan, params: Sequence[Parameter], returns: Callable[[Writer], str],
                    header: str, reverse: Reverse | None = None) -> tuple[Emitted, dict[str, Any]]:
    """The source of the plan's function and the data it reads (index arrays, constants); ``reverse``
    writes the lines of a reverse pass over its groups, if it has one."""
    writer = Writer(found)
    namer = Namer(reserved_names() | {"v", "finite"} | ({"a"} if reverse else set()))
    name = namer.claim(identifier(name))
    names = [namer.claim(identifier(p.name)) for p in params]
    scalar_names = [n for n, p in zip(names, params) if not p.is_array]
    lines = [f"def {name}({', '.join(names)}):", f"    # {comment_text(header)}",
             *PYTHON.prologue(name, names, scalar_names, [], []), f"    v = _empty({found.size})"]
    for p, arg in zip(params, names):
        start = found.slots[p.elements[0]]
        if p.is_array:
            lines.append(f"    v[{start}:{start + len(p.elements)}] = _flat({arg}, {arg!r}, {p.shape!r})")
        else:
            lines.append(f"    v[{start}] = {arg}")
    constants = [n for n in found.slots if n.op is CONST]
    if constants:
        first = found.slots[constants[0]]
        writer.arrays["_constants"] = [float(c.param) for c in constants]
        lines.append(f"    v[{first}:{first + len(constants)}] = _constants")
    lines.append("    with _quiet():  # NumPy's inf and nan where math raises: see below")
    templates = TemplateCache(ARRAY)
    lines.extend("    " + writer.group_line(g, templates) for g in found.groups)
    reverse_lines, reverse_names = reverse(writer, templates) if reverse else ([], set())
    lines.extend(reverse_lines)
    # A sum is finite only if every slot is (a huge one may overflow it: the fallback is then merely slower).
    lines.append("        finite = _isfinite(_sum(v) + _sum(a))" if reverse else "        finite = _isfinite(_sum(v))")
    lines.append("    if not finite:  # the straight-line code raises, or returns what it returns")
    lines.append(f"        return _straight({', '.join(names)})")
    lines.append(f"    return {returns(writer)}")
    source = "\n".join(lines) + "\n"
    namespace_names = {"xp"} | set().union(*(ARRAY.namespace(g.members[0].op) for g in found.groups
                                              if g.members[0] not in found.sums)) | reverse_names
    emitted = Emitted(source, name, names, namespace_names, {}, 0, ARRAY.name, [], scalar_names)  # ops' array forms
    return emitted, writer.arrays


def scalar_text(slot: int, buffer: str = "v") -> str:
    return f"{buffer}.item({slot})"


def packed(writer: Writer, slots: Sequence[int], shape: tuple[int, ...], buffer: str = "v") -> str:
    """A float64 array of ``shape`` holding the slots of ``buffer``: a copy, so that no result keeps
    the buffer alive."""
    if same_slot(slots):
        text = f"{buffer}[{writer.index(slots)}]"  # a gather makes a new array
    else:
        text = writer.stream(slots, buffer)
        if not text.startswith(f"{buffer}[_i"):
            text += ".copy()"
    return text if len(shape) == 1 else f"{text}.reshape({shape!r})"


def runtime_names(arrays: dict[str, Any]) -> dict[str, Any]:
    """What a vectorised function reads besides its ops and ``_straight`` (``symgrad.runtime`` binds
    that): NumPy, its index arrays and constants."""
    numpy = numpy_module()
    found: dict[str, Any] = {name: numpy.array(values, dtype=numpy.float64 if name == "_constants" else numpy.intp)
                             for name, values in arrays.items()}
    found.update(xp=numpy, _empty=numpy.empty, _zeros=numpy.zeros, _add_at=numpy.add.at,
                 _subtract_at=numpy.subtract.at, _sum=numpy.add.reduce, _isfinite=math.isfinite, _flat=flat_values,
                 _quiet=functools.partial(numpy.errstate, all="ignore"))
    return found
