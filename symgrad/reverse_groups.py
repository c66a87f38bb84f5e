"""The reverse pass of a vectorised plan, a group at a time: the gradient of one output with no
scalar backward graph.

The forward groups are pulled back in reverse depth order (a group's consumers are deeper, so
every contribution to its adjoint is in before its turn). Each group's op pulls its adjoint back
by its own table entry: ``op.pullback`` applied once to placeholders (the adjoint, the output,
the arguments) gives each argument's contribution as an expression, printed with the ops' array
templates over the group's slices of ``v`` and of ``a``, the adjoint buffer laid out like ``v``.
A contribution is added where its argument's slots are: a slice (``a[s:e] += ...``), one slot
that every member reads (the sum), distinct gathered slots, or slots that repeat
(``numpy.add.at``, which adds every occurrence); the first contribution to slots no other has
reached is assigned (``a`` starts as zeros). A sum sends its adjoint, with each term's sign,
to its terms. Constants and what depends on no ``wrt`` symbol get no adjoint.

``code_and_derived`` is ``sg.compile``'s choice: this code, whose scalar derived graph is made when
something first asks for it (``pipeline.LazyDerived``), where it applies (``applies``, and a plan
``vectorise.choose`` takes); else the derived graph and ``pipeline.generate``'s code, as before.

The rounding may differ from the straight-line code's (other rewrites of the derivative, other
orders of adding contributions); agreement is to rounding, and every non-finite slot still sends
the call to the straight-line code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

from symgrad import progress, vectorise
from symgrad.backends import ARRAY
from symgrad.codegen import Emitted, TemplateCache
from symgrad.core import ATOM, UNARY, Template
from symgrad.expr import Expr, infix_text, symbol, to_text, topological_order
from symgrad.literals import format_number
from symgrad.names import comment_text
from symgrad.ops import CONST
from symgrad.pipeline import (
    CompileStats,
    Derived,
    LazyDerived,
    Options,
    derive,
    describe,
    differentiate,
    generate,
    gradient_text,
    rewrite,
    values_text,
)
from symgrad.settings import no_gc_pauses
from symgrad.shapes import Parameter, flat
from symgrad.vectorise import INLINE_TERMS, Group, Plan, Reverse, Writer, same_slot

# What an op's pullback is applied to, once per group: its adjoint, its output, its arguments.
_ADJOINT, _OUT = symbol("_adjoint_"), symbol("_out_")


def _arguments(arity: int) -> tuple[Expr, ...]:
    return tuple(symbol(f"_arg{i}_") for i in range(arity))


def active_groups(found: Plan, params: Sequence[Parameter], wrt: Sequence[Expr]) -> set[int]:
    """The numbers of the groups that depend on a ``wrt`` symbol: the parameters' holding one
    (``plan`` numbers them from 1), then every group one of whose arguments' groups does."""
    wanted = set(wrt)
    active = {number for number, p in enumerate(params, start=1) if any(e in wanted for e in p.elements)}
    for group in found.groups:
        if any(g in active for g in group.arg_groups):
            active.add(group.number)
    return active


class NoArrayForm(Exception):
    """An op of a pullback has no array form: the gradient is derived as a scalar graph instead."""


class _Pullbacks:
    """The reverse lines, written with the forward code's writer and templates."""

    def __init__(self, writer: Writer, templates: TemplateCache, active: set[int]) -> None:
        self.writer, self.templates, self.active = writer, templates, active
        self.names: set[str] = set()  # the namespace names the lines use
        self.written = bytearray(writer.plan.size)  # 1: the slot of ``a`` has had a contribution

    def template_of(self, node: Expr) -> Any:
        if node.op is CONST:
            text = format_number(float(node.param))
            return Template(text, (), UNARY if text.startswith("-") else ATOM)
        if node.op.array_printer is None:
            raise NoArrayForm(node.op.name)
        self.names.update(ARRAY.namespace(node.op))
        return self.templates(node.op, node.param)[0]

    def group_lines(self, group: Group) -> list[str]:
        members = group.members
        slots = self.writer.plan.slots
        start = slots[members[0]]
        adjoint = f"a[{start}]" if len(members) == 1 else f"a[{start}:{start + len(members)}]"
        terms, signs = self.writer.plan.sums.get(members[0], (members[0].args, None))
        shown = comment_text(to_text(members[0], limit=40))
        count = "" if len(members) == 1 else f" ... ×{len(members)}"
        lines = []
        if signs is not None and len(terms) > INLINE_TERMS:  # one long sum: its adjoint to every active term
            for sign in (1, -1):
                picked = [slots[t] for t, s, g in zip(terms, signs, group.arg_groups) if s == sign and g in self.active]
                for run in _runs(sorted(picked)):  # one value for all: in any order, as slices where they run
                    lines.append(self.add(run, adjoint, sign, 1) + f"  # d/d(its terms) of {shown}")
            return lines
        if signs is not None:
            streams = [[self.writer.plan.sums[m][0][j] for m in members] for j in range(len(terms))]
        else:
            streams = [[m.args[j] for m in members] for j in range(len(terms))]
        positions = [[slots[n] for n in nodes] for nodes in streams]
        if signs is not None:
            parts: list[tuple[str | None, int]] = [(adjoint, s) for s in signs]
        else:
            # Arguments as slots, constants too: a literal in every operand of a pulled-back op would
            # compute in Python's numbers, not NumPy's.
            texts = [self.writer.stream(at) for at in positions]
            arguments = _arguments(len(terms))
            names = {_ADJOINT: adjoint, _OUT: self.writer.stream(range(start, start + len(members))),
                     **dict(zip(arguments, texts))}
            pulled = members[0].op.pullback(_ADJOINT, _OUT, arguments, members[0].param)
            parts = [(None if p is None or (p.op is CONST and p.param == 0)
                      else infix_text(p, self.template_of, 1 << 30, names)[0], 1) for p in pulled]
        for j, ((text, sign), nodes) in enumerate(zip(parts, streams)):
            if text is None or group.arg_groups[j] not in self.active:
                continue
            target = comment_text(to_text(nodes[0], limit=30))
            lines.append(self.add(positions[j], text, sign, len(members))
                         + f"  # d/d({target}) of {shown}{count}")
        return lines

    def add(self, positions: list[int], value: str, sign: int, members: int) -> str:
        """The line adding ``sign`` × ``value`` (``members`` values, or one for all) at ``positions`` of ``a``."""
        first, writer = positions[0], self.writer
        operator = "+=" if sign > 0 else "-="
        if sign > 0 and not any(self.written[p] for p in positions) and len(set(positions)) == len(positions):
            operator = "="  # the first contribution to these slots: no zeros to add it to
        for p in positions:
            self.written[p] = 1
        if same_slot(positions):
            if len(positions) == 1:
                return f"        a[{first}] {operator} {value}"
            total = f"_sum({value})" if members > 1 else f"{len(positions)} * {value}"
            return f"        a[{first}] {operator} {total}"
        target = writer.stream(positions, "a")
        if not target.startswith("a[_i") or len(set(positions)) == len(positions):
            return f"        {target} {operator} {value}"
        at = "_add_at" if sign > 0 else "_subtract_at"
        return f"        {at}(a, {target[2:-1]}, {value})"  # repeated slots: every occurrence adds


def _runs(positions: list[int]) -> list[list[int]]:
    """Sorted ``positions`` cut where they stop running on by one; all of them, if that makes many runs."""
    runs: list[list[int]] = []
    for p in positions:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs if len(runs) <= INLINE_TERMS else [positions] if positions else []


def reverse_pass(found: Plan, output: Expr, params: Sequence[Parameter], wrt: Sequence[Expr]) -> Reverse:
    """``emit_vectorised``'s ``reverse``: the lines computing the adjoint of every active slot in ``a``."""
    def write(writer: Writer, templates: TemplateCache) -> tuple[list[str], set[str]]:
        active = active_groups(found, params, wrt)
        pullbacks = _Pullbacks(writer, templates, active)
        pullbacks.written[found.slots[output]] = 1
        lines = [f"        a = _zeros({found.size})  # the adjoints, slot by slot as v",
                 f"        a[{found.slots[output]}] = 1.0  # d/d(the output)"]
        for group in reversed(found.groups):
            if group.number in active:
                lines.extend(pullbacks.group_lines(group))
        return lines, pullbacks.names

    return write


def applies(options: Options, order: int, aux: bool) -> bool:
    """Whether a function with these options may have its reverse pass written per group (then
    ``per_group`` plans it): one output's value and gradient, no aux, scalar code, not forced straight."""
    return options.strategy != "straight" and options.backend != ARRAY.name and not options.several \
        and order == 1 and not aux


def per_group(outputs: list[Expr], derived: Derived, wrt: Sequence[Parameter], params: Sequence[Parameter],
              options: Options, forward_order: list[Expr] | None, stats: CompileStats
              ) -> tuple[Emitted, dict[str, Any]] | None:
    """Vectorised code of one output's value and gradient (no aux) whose reverse pass is written a
    group at a time (``symgrad.reverse_groups``) from the forward graph alone: ``derived`` is read
    for its values, order and aux only. None where that does not apply (then ``generate``)."""
    if not applies(options, derived.order, bool(derived.aux)):
        return None
    clock = time.perf_counter()
    values = derived.values
    order = topological_order(values) if forward_order is None else forward_order
    found, reason = vectorise.choose(order, params, values, options.strategy)
    if found is None:
        return None
    slots, wrt_elements = found.slots, flat(wrt)

    def returns(writer: vectorise.Writer) -> str:
        gradient = gradient_text([slots[w] for w in wrt_elements], wrt, (), options.bare_gradient,
                                  lambda slot: vectorise.scalar_text(slot, "a"),
                                  lambda s, shape: vectorise.packed(writer, s, shape, "a"))
        return f"{values_text([slots[values[0]]], options, vectorise.scalar_text)}, {gradient}"

    suffix, header = describe(outputs, wrt, options, False)
    try:
        emitted, arrays = vectorise.emit_vectorised(
            f"{options.name}{suffix}", found, params, returns, f"{header({})}; {found.size} slots",
            reverse_pass(found, values[0], params, wrt_elements))
    except NoArrayForm:
        return None
    stats.strategy = f"{reason}; the reverse pass written per group, without a scalar backward graph"
    stats.backward_nodes_before = stats.backward_nodes_after = None
    stats.lines = emitted.source.count("\n")
    stats.seconds["emit"] = time.perf_counter() - clock
    progress.step("emit", f"{stats.lines:,} lines")
    return emitted, {"vectorised": arrays}


def derive_later(outputs: list[Expr], aux: list[Expr], wrt: list[Expr], rewrites: str, stats: CompileStats
                  ) -> Derived:
    """The scalar derived graph of a function whose code did without it, when something first asks
    for it (its expressions, pickling, the straight-line fallback); ``stats`` gets its counts."""
    with no_gc_pauses():
        later = CompileStats()
        derived, _ = derive(outputs, aux, wrt, False, topological_order([*outputs, *aux]), later, rewrites)
        stats.backward_nodes_before = later.backward_nodes_before
        stats.backward_nodes_after = later.backward_nodes_after
        stats.seconds["differentiate (on demand)"] = later.seconds["rewrite"] + later.seconds["differentiate"]
        return derived


def code_and_derived(outputs: list[Expr], aux: list[Expr], wrt_symbols: list[Expr], wrt: list[Parameter],
                     params: list[Parameter], options: Options, order: int, graph_order: list[Expr],
                     stats: CompileStats) -> tuple[tuple[Any, dict[str, Any]], Derived]:
    """The code and the derived graph: with the reverse pass written per group (the derived graph
    made lazily) where that applies, else as ``derive`` and ``generate`` make them."""
    if not applies(options, order, bool(aux)):
        derived, full_order = derive(outputs, aux, wrt_symbols, order == 2, graph_order, stats, options.rewrites)
        return generate(outputs, derived, wrt, params, options, full_order, stats), derived
    rewritten = rewrite(outputs, aux, graph_order, stats, options.rewrites)
    lazy = LazyDerived(functools.partial(derive_later, outputs, aux, wrt_symbols, options.rewrites, stats), order,
                       values=rewritten.values, aux=rewritten.aux)
    forward_order = rewritten.forward_order
    # With "vectorised" a plan is all but certain: the rewriter's tables (a node's entry each) go before it.
    kept = options.strategy != "vectorised"
    if not kept:
        stats.rewrites = rewritten.finish()
        del rewritten
    found = per_group(outputs, lazy, wrt, params, options, forward_order, stats)
    if found is not None:
        if kept:
            stats.rewrites = rewritten.finish()
        return found, lazy
    # Declined: differentiated from the rewritten graph, or (an op of a pullback has no array form)
    # derived again from the outputs; the rewriter's tables go before the code is generated.
    if kept:
        derived, full_order = differentiate(rewritten, wrt_symbols, False, stats)
        del rewritten
    else:
        derived, full_order = derive(outputs, aux, wrt_symbols, False, graph_order, stats, options.rewrites)
    return generate(outputs, derived, wrt, params, options, full_order, stats), derived
