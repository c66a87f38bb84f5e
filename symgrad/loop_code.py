"""The code of a deep chain whose step repeats (``symgrad.loops`` finds the step and cuts the graph
around it): one function of the pieces, every local named by one namer, the step written once in a
loop and its pullback once in a reverse loop. ``rolled`` is ``sg.compile``'s choice (None where it
does not apply), ``rolled_value`` its ``fn.forward``."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from symgrad import progress
from symgrad.backends import ARRAY, BASE_NAMESPACE_NAMES, PYTHON, reserved_names
from symgrad.codegen import Emitted, emit_statements
from symgrad.expr import Expr, const, to_text, topological_order
from symgrad.loops import Pieces, pieces_of
from symgrad.names import Namer, comment_text, identifier
from symgrad.pipeline import CompileStats, Derived, Options, derive, describe, gradient_text, rewrite
from symgrad.rules import is_number
from symgrad.sections import Section
from symgrad.shapes import Parameter, flat, packed_text
from symgrad.simplify import RewriteStats

_INDENT = "        "  # inside def + try


def applies(options: Options, order: int, aux: bool) -> bool:
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
    if not applies(options, order, aux):
        if forced:
            raise ValueError("strategy='loop' takes one output's value and gradient (order=1, no aux, no list) "
                             "in scalar code; use 'straight' or 'auto'")
        return None
    clock = time.perf_counter()
    found = pieces_of(outputs[0], params, forced, graph_order)
    if found is None:
        return None
    pieces, reason = found
    run = pieces.run
    stats.forward_nodes = len(graph_order)
    stats.backward_nodes_before = stats.backward_nodes_after = None
    stats.seconds["find the loop"] = time.perf_counter() - clock
    progress.step("find the loop", f"{run.steps:,} steps of {run.period} nodes")
    clock = time.perf_counter()
    writer = _Writer(pieces, options, params)
    emitted = writer.function(outputs, wrt)
    stats.rewrites = writer.rewrites
    stats.strategy = f"{reason}; a step of {run.period} nodes repeated {run.steps:,} times, rolled into a loop " \
        "(no scalar backward graph)"
    stats.lines = emitted.source.count("\n")
    stats.seconds["emit"] = time.perf_counter() - clock
    progress.step("emit", f"{stats.lines:,} lines")
    return emitted, {"loop": True}


def rolled_value(output: Expr, params: Sequence[Parameter], options: Options) -> tuple[Emitted, dict[str, Any]] | None:
    """The value alone (``fn.forward``) of a function ``rolled`` wrote, rolled the same way; None if
    that function was not rolled."""
    if not applies(options, 1, False):
        return None
    found = pieces_of(output, params, options.strategy == "loop", topological_order([output]))
    return None if found is None else (_Writer(found[0], options, params).function([output], None), {"loop": True})


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
        self.rewrites = RewriteStats()  # what rewriting the pieces did, all told

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
        rewritten = rewrite(values, [], topological_order(values), CompileStats(), self.options.rewrites)
        self._count(rewritten.finish())
        return rewritten.values

    def _derived(self, output: Expr, wrt: list[Expr]) -> Derived:
        """``output`` rewritten and differentiated by ``wrt``."""
        stats = CompileStats()
        derived, _ = derive([output], [], wrt, False, topological_order([output]), stats, self.options.rewrites)
        self._count(stats.rewrites)
        return derived

    def _count(self, piece: RewriteStats) -> None:
        """Add what rewriting a piece did to the function's counts."""
        counts = self.rewrites
        counts.nodes_before += piece.nodes_before
        counts.nodes_after += piece.nodes_after
        counts.folded += piece.folded
        counts.identities.update(piece.identities)
        counts.dead += piece.dead

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
            total = seed * node if is_number(total, 0) else total + seed * node
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
        derived = self._derived(pieces.tail, [*wrt, *placeholders])
        gradient = derived.jacobian[0]
        # The positions whose adjoint the tail makes nonzero (what the rewritten output no longer reads,
        # such as y in 0 * y, stays out of the reverse pass, as the straight-line code leaves it out).
        self.moving = [q for q, g in enumerate(gradient[len(wrt):len(wrt) + len(state)]) if not is_number(g, 0)]
        direct = {w: f"direct_{self.names[w]}" for w, g in zip(wrt, gradient) if not is_number(g, 0)}
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
            derived = self._derived(surrogate, [*pieces.invariants.values(), *pieces.state])
            gradient = derived.jacobian[0][len(invariant_adjoint):]
            reached = sorted({*moving, *(q for q, g in enumerate(gradient) if not is_number(g, 0))})
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
        derived = self._derived(surrogate, self.wrt)
        names = [f"d_{self.names[w]}" for w in self.wrt]
        self.lines += self.statements([Section("the gradient through what came before the loop", "g",
                                               derived.jacobian[0], names)])
        return self.texts


def _assigned(body: list[str], targets: list[str], texts: list[str], then: Sequence[str] = ()) -> list[str]:
    """``body``, the lines ``then`` (which read the targets' old values, and write none of what
    ``body`` reads), and ``targets = texts`` at once, every text read before any target changes. A
    single target takes over the body's last line, moved last, where that line computes its text alone."""
    target, assigning = f"{_INDENT}{targets[0]} = ", f"{_INDENT}{texts[0]} = "
    if len(targets) == 1 and body and body[-1].startswith(assigning) and \
            not any(re.search(rf"\b{texts[0]}\b", line) for line in [*body[:-1], *then]):
        return [*body[:-1], *then, target + body[-1][len(assigning):]]
    return [*body, *then, f"{_INDENT}{', '.join(targets)} = {', '.join(texts)}"]
