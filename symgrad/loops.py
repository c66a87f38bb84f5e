"""A step repeated many times, written once in a loop: the code of a deep chain.

A graph built by a Python loop of many steps (``x = sin(x) * 1.01 + 0.1 * x0``, a million times)
is, in its topological order, one period of nodes repeated: node ``i + p`` has node ``i``'s op and
param, and each of its arguments is node ``i``'s own (an *invariant*, computed before the run) or
the node ``p`` places after it (the same step's, or the previous step's: the *state* it carries),
each argument the same way in every step. ``find_run`` finds the longest such run around the
middle of the order. Straight-line code writes a line per node and derives a backward graph as
large; here one step is rewritten and differentiated, on placeholders, and runs in a loop. The
function computes, in order:

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
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from symgrad import progress
from symgrad.backends import ARRAY, BASE_NAMESPACE_NAMES, PYTHON, reserved_names
from symgrad.codegen import Emitted, emit_statements
from symgrad.expr import Expr, const, make, symbol, to_text, topological_order
from symgrad.names import Namer, comment_text, identifier
from symgrad.ops import CONST, SYMBOL
from symgrad.pipeline import CompileStats, Options, derive, describe, gradient_text, rewrite
from symgrad.sections import Section
from symgrad.shapes import Parameter, flat, packed_text

# ``strategy="auto"`` rolls a run of at least this many steps covering at least half the graph:
# a shorter chain runs faster straight-line (the loop's own work per step: its iteration, the
# stored state), and compiles fast enough.
AUTO_MIN_STEPS = 5000
MAX_PERIOD = 256  # nodes in one step, at most
_INDENT = "        "  # inside def + try


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
        self.taken = taken

    def __call__(self, wanted: str) -> Expr:
        name = wanted
        while name in self.taken:
            name = f"_{name}"
        self.taken.add(name)
        return symbol(name)

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


def applies(options: Options, order: int, aux: bool, params: Sequence[Parameter]) -> bool:
    """May this function be rolled: one output's value and gradient, no aux, scalar code, the
    strategy "auto" or "loop"."""
    return options.strategy in ("auto", "loop") and options.backend != ARRAY.name and not options.several \
        and order == 1 and not aux


def rolled(outputs: list[Expr], wrt: Sequence[Parameter], params: Sequence[Parameter], options: Options,
           order: int, aux: bool, graph_order: Sequence[Expr], stats: CompileStats
           ) -> tuple[Emitted, dict[str, Any]] | None:
    """The code of a graph with its repeated step rolled into a loop, or None where that does not
    apply (``strategy="auto"``: nor pay); ``strategy="loop"`` raises where it cannot roll."""
    forced = options.strategy == "loop"
    if not applies(options, order, aux, params):
        if forced:
            raise ValueError("strategy='loop' takes one output's value and gradient (order=1, no aux, no list) "
                             "in scalar code; use 'straight' or 'auto'")
        return None
    clock = time.perf_counter()
    found = _found(outputs[0], params, forced, graph_order)
    if found is None:
        return None
    pieces, reason = found
    run = pieces.run
    stats.forward_nodes = len(graph_order)
    stats.backward_nodes_before = stats.backward_nodes_after = None
    stats.seconds["find the loop"] = time.perf_counter() - clock
    progress.step("find the loop", f"{run.steps:,} steps of {run.period} nodes")
    clock = time.perf_counter()
    emitted = _Writer(pieces, options, params).function(outputs, wrt)
    stats.strategy = f"{reason}; a step of {run.period} nodes repeated {run.steps:,} times, rolled into a loop " \
        "(no scalar backward graph)"
    stats.lines = emitted.source.count("\n")
    stats.seconds["emit"] = time.perf_counter() - clock
    progress.step("emit", f"{stats.lines:,} lines")
    return emitted, {"loop": True}


def rolled_value(output: Expr, params: Sequence[Parameter], options: Options) -> tuple[Emitted, dict[str, Any]] | None:
    """The value alone (``fn.forward``) of a function ``rolled`` wrote, rolled the same way; None if
    that function was not rolled."""
    if not applies(options, 1, False, params):
        return None
    found = _found(output, params, options.strategy == "loop", topological_order([output]))
    return None if found is None else (_Writer(found[0], options, params).function([output], None), {"loop": True})


def _found(root: Expr, params: Sequence[Parameter], forced: bool, graph_order: Sequence[Expr]
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


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


class _Writer:
    """The function's source, a piece at a time, every local named by one namer."""

    def __init__(self, pieces: Pieces, options: Options, params: Sequence[Parameter]) -> None:
        self.pieces, self.options = pieces, options
        self.namer = namer = Namer(reserved_names() | {"_k"})
        self.params = params
        self.param_names = [namer.claim(identifier(p.name)) for p in params]
        self.names: dict[Expr, str] = {}  # each symbol's local (an array parameter's element: its own)
        self.unpack: list[str] = []
        for p, name in zip(params, self.param_names):
            if p.is_array:
                elements = [namer.claim(identifier(e.param)) for e in p.elements]
                self.names.update(zip(p.elements, elements))
                self.unpack.append(PYTHON.unpack(elements, name, p.shape))
            else:
                self.names[p.elements[0]] = name
        self.namespace: set[str] = set(BASE_NAMESPACE_NAMES) | {"_range", "_reversed", "_straight"}
        if self.unpack:
            self.namespace |= PYTHON.array_names
        self.lines: list[str] = []
        self.wrt: list[Expr] = []
        self.texts: list[str] = []  # what the outputs of the last lines written read as
        self.value = ""  # the value's local
        self.moving: list[int] = []  # the state's positions whose adjoint the reverse loop carries

    def statements(self, sections: list[Section]) -> list[str]:
        """The sections' lines, their outputs named (or, unnamed, read as ``self.texts``)."""
        lines, self.texts, used = emit_statements(sections, self.names, self.namer, annotate=self.options.annotate)
        self.namespace |= used
        return lines

    def function(self, outputs: list[Expr], wrt: Sequence[Parameter] | None) -> Emitted:
        """The function of the value and the gradient with respect to ``wrt`` (None: the value alone)."""
        pieces, run = self.pieces, self.pieces.run
        if wrt is None:
            function_name = self.namer.claim(identifier(self.options.name))
            header = f"value of {to_text(outputs[0], limit=60, names=self.names)}"
        else:
            self.wrt = flat(wrt)
            suffix, describe_header = describe(outputs, wrt, self.options, False)
            function_name = self.namer.claim(identifier(f"{self.options.name}{suffix}"))
            header = describe_header(self.names)
        state, invariants, boundary = self._before()
        trace = self._loop(state, keep=wrt is not None)
        if wrt is None:
            self.lines += self.statements([Section("the last step and what follows it: the value", "t",
                                                   self._rewritten([pieces.tail]), ["value"])])
            returned = self.texts[0]
        else:
            direct, state_adjoint, invariant_adjoint, boundary_adjoint = self._tail(state, invariants, boundary)
            self._reverse(state, state_adjoint, invariant_adjoint, trace)
            gradient = self._before_in_reverse(state_adjoint, invariant_adjoint, boundary_adjoint, direct)
            bare = self.options.bare_gradient
            returned = f"{self.value}, {gradient_text(gradient, wrt, (), bare, str, packed_text)}"
        scalar_names = [name for p, name in zip(self.params, self.param_names) if not p.is_array]
        lines = [f"def {function_name}({', '.join(self.param_names)}):",
                 f"    # {comment_text(header)}",
                 f"    # a step of {run.period} nodes repeated {run.steps:,} times, all but the last in a loop",
                 *PYTHON.prologue(function_name, self.param_names, scalar_names, [], self.unpack),
                 "    try:", *self.lines,
                 f"        return {returned}",
                 "    except (ArithmeticError, ValueError):  # the straight-line code raises it, naming the node",
                 f"        return _straight({', '.join(self.param_names)})", ""]
        return Emitted("\n".join(lines), function_name, self.param_names, self.namespace, {}, 0, PYTHON.name,
                       [self.names[e] for e in flat(self.params)], scalar_names)

    def _rewritten(self, values: list[Expr]) -> list[Expr]:
        return rewrite(values, [], topological_order(values), CompileStats(), self.options.rewrites).values

    def _before(self) -> tuple[list[str], list[str], list[str]]:
        """The lines before the loop; the locals of the state, the invariants, what the tail reads."""
        pieces = self.pieces
        placeholders = [*pieces.state, *pieces.invariants.values(), *pieces.boundary.values()]
        wanted = ["state"] * len(pieces.state) + ["invariant"] * len(pieces.invariants) + \
            ["before"] * len(pieces.boundary)
        values = [*pieces.entries, *pieces.invariants, *pieces.boundary]
        # A symbol read as an invariant (or by the tail) is its own placeholder, read where it is.
        computed = [(p, v, w) for p, v, w in zip(placeholders, values, wanted) if p is not v]
        heading = "before the loop: its first state and what every step reads"
        self.lines += self.statements([Section(heading, "t", self._rewritten([v for _, v, _ in computed]),
                                               [w for *_, w in computed])])
        self.names.update(zip([p for p, *_ in computed], self.texts))
        return self._split([self.names[p] for p in placeholders])

    def _split(self, items: list[str]) -> tuple[list[str], list[str], list[str]]:
        """``items``, one for each placeholder of the state, then of the invariants, then of the boundary,
        in three lists."""
        n_state, n_invariants = len(self.pieces.state), len(self.pieces.invariants)
        return items[:n_state], items[n_state:n_state + n_invariants], items[n_state + n_invariants:]

    def _weighted(self, terms: list[tuple[str, Expr]]) -> Expr:
        """``Σ seed · node`` over ``terms`` (local, node): a fresh placeholder per seed, read from the local."""
        total = const(0.0)
        for local, node in terms:
            seed = self.pieces.fresh(f"seed{len(self.names)}")
            self.names[seed] = local
            total = seed * node if _is_zero(total) else total + seed * node
        return total

    def _loop(self, state: list[str], keep: bool) -> list[str]:
        """The loop's lines; ``keep``: each step's state kept in a list (``trace``) for the reverse loop."""
        pieces = self.pieces
        trace = [self.namer.claim("trace") for _ in state] if keep else []
        body = self.statements([Section("", "t", self._rewritten(pieces.step), [None] * len(state))])
        step_text = to_text(pieces.step[0], limit=60, names=self.names)
        self.lines += [f"        # the loop: {comment_text(f'{state[0]} = {step_text}')}, and so on",
                       *(f"        {t} = [0.0] * {pieces.loops}" for t in trace),
                       "        for _k in _range(" + str(pieces.loops) + "):",
                       *(f"            {t}[_k] = {s}" for t, s in zip(trace, state)),
                       *_indented(_assigned(body, state, self.texts))]
        return trace

    def _tail(self, state: list[str], invariants: list[str], boundary: list[str]
              ) -> tuple[dict[Expr, str], list[str], list[str], list[str]]:
        """The tail's lines: the value, and its gradient with respect to the ``wrt`` symbols it reads
        (``direct``), the final state, the invariants and what it reads from before the loop."""
        pieces = self.pieces
        placeholders = [*pieces.state, *pieces.invariants.values(), *pieces.boundary.values()]
        held = set(placeholders)  # a symbol that is its own placeholder: its adjoint is the placeholder's
        wrt = [w for w in self.wrt if w not in held]
        derived, _ = derive([pieces.tail], [], [*wrt, *placeholders], False,
                            topological_order([pieces.tail]), CompileStats(), self.options.rewrites)
        gradient = derived.jacobian[0]
        # The positions whose adjoint the tail makes nonzero (what the rewritten output no longer reads,
        # such as y in 0 * y, stays out of the reverse pass, as the straight-line code leaves it out).
        self.moving = [q for q, g in enumerate(gradient[len(wrt):len(wrt) + len(state)]) if not _is_zero(g)]
        direct = {w: f"direct_{self.names[w]}" for w, g in zip(wrt, gradient) if not _is_zero(g)}
        wanted = [direct.get(w) for w in wrt] + [f"{name}_adjoint" for name in [*state, *invariants, *boundary]]
        kept = [(g, name) for g, name in zip(gradient, wanted) if name is not None]
        self.lines += self.statements([
            Section("the last step and what follows it: the value", "t", derived.values, ["value"]),
            Section("its gradient", "g", [g for g, _ in kept], [name for _, name in kept])])
        self.value, texts = self.texts[0], self.texts[1:]
        return (dict(zip(direct, texts)), *self._split(texts[len(direct):]))

    def _reverse(self, state: list[str], state_adjoint: list[str], invariant_adjoint: list[str], trace: list[str]
                 ) -> None:
        """The reverse loop's lines: the state's adjoint goes a step back, each invariant's adds up."""
        pieces, reached = self.pieces, self.moving
        moving: list[int] = []
        while reached != moving:  # until each position whose adjoint may be nonzero is in
            moving = reached
            surrogate = self._weighted([(state_adjoint[q], pieces.step[q]) for q in moving])
            # The state's adjoints last: their lines come last, where _assigned can fold in the assignment.
            derived, _ = derive([surrogate], [], [*pieces.invariants.values(), *pieces.state], False,
                                topological_order([surrogate]), CompileStats(), self.options.rewrites)
            gradient = derived.jacobian[0][len(invariant_adjoint):]
            reached = sorted({*moving, *(q for q, g in enumerate(gradient) if not _is_zero(g))})
        self.moving = moving
        if not moving:
            return
        rows = [*derived.jacobian[0][:len(invariant_adjoint)], *(gradient[q] for q in moving)]
        body = self.statements([Section("", "g", rows, [None] * len(rows))])
        texts = self.texts[len(invariant_adjoint):]
        added = [f"{a} += {t}" for a, t in zip(invariant_adjoint, self.texts) if t != "0.0"]
        if len(state) == 1:
            loop = [f"        for {state[0]} in _reversed({trace[0]}):"]
        else:
            loop = [f"        for _k in _range({pieces.loops - 1}, -1, -1):",
                    *(f"            {s} = {t}[_k]" for s, t in zip(state, trace))]
        self.lines += ["        # the steps' gradient, in reverse", *loop,
                       *_indented(_assigned(body, [state_adjoint[q] for q in moving], texts,
                                            [_INDENT + line for line in added]))]

    def _before_in_reverse(self, state_adjoint: list[str], invariant_adjoint: list[str], boundary_adjoint: list[str],
                           direct: dict[Expr, str]) -> list[str]:
        """The lines of the gradient through what came before the loop: of ``Σ adjoint · value`` over what
        the loop and the tail read from there, and the tail's own gradient (``direct``); its locals."""
        pieces = self.pieces
        surrogate = self._weighted([*((state_adjoint[q], pieces.entries[q]) for q in self.moving),
                                    *zip(invariant_adjoint, pieces.invariants),
                                    *zip(boundary_adjoint, pieces.boundary), *((n, w) for w, n in direct.items())])
        derived, _ = derive([surrogate], [], self.wrt, False, topological_order([surrogate]), CompileStats(),
                            self.options.rewrites)
        names = [f"d_{self.names[w]}" for w in self.wrt]
        self.lines += self.statements([Section("the gradient through what came before the loop", "g",
                                               derived.jacobian[0], names)])
        return self.texts


def _is_zero(node: Expr) -> bool:
    return node.op is CONST and node.param == 0


def _assigned(body: list[str], targets: list[str], texts: list[str], then: Sequence[str] = ()) -> list[str]:
    """``body``, the lines ``then`` (which read the targets' old values, and write none of what
    ``body`` reads), and ``targets = texts`` at once, every text read before any target changes. A
    single target takes over the body's last line, moved last, where that line computes its text alone."""
    target, assigning = f"{_INDENT}{targets[0]} = ", f"{_INDENT}{texts[0]} = "
    if len(targets) == 1 and body and body[-1].startswith(assigning) and \
            not any(re.search(rf"\b{texts[0]}\b", line) for line in [*body[:-1], *then]):
        return [*body[:-1], *then, target + body[-1][len(assigning):]]
    return [*body, *then, f"{_INDENT}{', '.join(targets)} = {', '.join(texts)}"]
