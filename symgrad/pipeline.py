"""The derivation pipeline: rewrite and differentiate the outputs, lay the results out as
sections of one function, and generate its source (a pure function of the graph and options,
which unpickling relies on)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad import batched, batched_code, progress, vectorise
from symgrad.array_code import BatchSums, array_helper_spec, array_returns, without_unused
from symgrad.backends import ARRAY, BACKENDS
from symgrad.codegen import Emitted, emit_function
from symgrad.expr import Expr, const, to_text, topological_order
from symgrad.grad import Differentiator
from symgrad.literals import format_number
from symgrad.names import identifier
from symgrad.ops import CONST
from symgrad.sections import Section, tuple_text
from symgrad.shapes import Parameter, array_shapes, flat, packed_text
from symgrad.simplify import Rewriter, RewriteStats


@dataclass
class CompileStats:
    """What compiling did: node counts, rewrites, size of the code, time per stage."""

    forward_nodes: int = 0
    backward_nodes_before: int | None = 0  # None: not derived (the reverse pass was written per group)
    backward_nodes_after: int | None = 0
    rewrites: RewriteStats = field(default_factory=RewriteStats)
    shared_nodes: int = 0
    lines: int = 0
    strategy: str = "straight"  # the code's strategy and why (symgrad.vectorise.choose)
    seconds: dict[str, float] = field(default_factory=dict)
    origin: str = ""  # where the function came from when not compiled here (symgrad.diskcache)

    def _rules(self) -> str:
        rules = self.rewrites.identities.most_common()
        return f" ({', '.join(f'{k} ×{n}' for k, n in rules)})" if rules else ""

    def _backward(self) -> str:
        if self.backward_nodes_before is None:
            return "none derived: the code's reverse pass needs none (the scalar graph is made if asked for)"
        return f"{self.backward_nodes_before} asked for, {self.backward_nodes_after} after rewrites"

    def __str__(self) -> str:
        stages = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in self.seconds.items())
        return "\n".join([
            f"forward nodes          {self.forward_nodes}",
            f"backward nodes         {self._backward()}",
            f"constants folded       {self.rewrites.folded}",
            f"identities applied     {sum(self.rewrites.identities.values())}{self._rules()}",
            f"dead nodes dropped     {self.rewrites.dead}",
            f"shared nodes (CSE)     {self.shared_nodes} computed once, used more than once",
            f"lines of code          {self.lines}",
            f"strategy               {self.strategy}",
            f"time                   {stages}",
            *([f"from                   {self.origin}"] if self.origin else []),
        ])


@dataclass(frozen=True)
class Options:
    """How a compiled function's code was generated, besides its graph."""

    name: str
    annotate: bool
    outputs: str  # how the outputs were given: "one" expression, a "list", or an "array" of them
    backend: str
    batch: Sequence[Expr]
    reduce: str | None
    output_shape: tuple[int, ...] = ()  # of an "array" of outputs
    bare_gradient: bool = False  # wrt was one array of symbols: its gradient is returned alone, not in a tuple
    strategy: str = "auto"  # "straight", "vectorised", or "auto": chosen from the graph's shape
    rewrites: str = "all"  # "exact": only the rewrites that keep every float bit for bit (symgrad.simplify)

    @property
    def several(self) -> bool:
        """Several outputs: values and a Jacobian rather than a value and a gradient."""
        return self.outputs != "one"


@dataclass
class Derived:
    """The rewritten outputs and their derivatives, sharing one graph."""

    values: list[Expr]
    jacobian: list[list[Expr]]  # one gradient row per output
    hessian: list[list[Expr]] | None  # of the single output, when order=2
    aux: list[Expr]

    @property
    def order(self) -> int:
        """1: value and gradient (or Jacobian); 2: and the Hessian."""
        return 1 if self.hessian is None else 2

    @property
    def made(self) -> bool:
        """Whether its expressions exist yet (a ``LazyDerived``'s are made when first read)."""
        return True

    def flat(self) -> list[Expr]:
        hessian = [e for row in self.hessian for e in row] if self.hessian else []
        return [*self.values, *(e for row in self.jacobian for e in row), *hessian, *self.aux]

    def roots(self) -> list[Expr]:
        """Every distinct expression the code computes, each once: of a Hessian (n² entries, most
        of them often 0) only the upper triangle, which is all the code reads."""
        upper = [e for i, row in enumerate(self.hessian) for e in row[i:]] if self.hessian else []
        return list(dict.fromkeys([*self.values, *(e for row in self.jacobian for e in row), *upper, *self.aux]))

    def full_order(self) -> list[Expr]:
        """Every node of the function, in the order ``derive`` returns it: the values' (and aux
        outputs') graph first, then the derivatives'."""
        return topological_order(self.roots(), prefix=topological_order([*self.values, *self.aux]))

    @classmethod
    def unflatten(cls, exprs: list[Expr], n_values: int, n_wrt: int, hessian: bool) -> Derived:
        rest = iter(exprs)
        values = [next(rest) for _ in range(n_values)]
        jacobian = [[next(rest) for _ in range(n_wrt)] for _ in range(n_values)]
        matrix = [[next(rest) for _ in range(n_wrt)] for _ in range(n_wrt)] if hessian else None
        return cls(values, jacobian, matrix, list(rest))


def derive(outputs: list[Expr], aux: list[Expr], wrt: list[Expr], second_order: bool,
            order: list[Expr], stats: CompileStats, rewrites: str = "all") -> tuple[Derived, list[Expr]]:
    """Rewrite the outputs (with ``rewrites``: "all" or "exact"), differentiate them (rewriting as it
    goes); also the final topological order. ``order`` is the topological order of the outputs and ``aux``."""
    return differentiate(rewrite(outputs, aux, order, stats, rewrites), wrt, second_order, stats)


@dataclass
class Rewritten:
    """The rewritten outputs and aux expressions, their graph's order, and the differentiator
    that rewrote them (whose rewriting their derivatives go on with)."""

    differentiator: Differentiator
    values: list[Expr]
    aux: list[Expr]
    forward_order: list[Expr]

    def finish(self) -> RewriteStats:
        """The rewriter's counts, for a function whose graph is the forward graph alone."""
        return self.differentiator.rewriter.finish(self.forward_order)  # type: ignore[union-attr]


def rewrite(outputs: list[Expr], aux: list[Expr], order: list[Expr], stats: CompileStats,
            rewrites: str = "all") -> Rewritten:
    """``derive``'s first stage: the outputs and ``aux`` rewritten."""
    clock = time.perf_counter()
    d = Differentiator(rewrites=rewrites)
    rewriter: Rewriter = d.rewriter  # type: ignore[assignment]  # Differentiator() rewrites: it has one
    roots = d.prepare([*outputs, *aux], order)
    forward_order = topological_order(roots) if rewriter.changed else order
    stats.forward_nodes = len(order)
    stats.seconds["rewrite"] = time.perf_counter() - clock
    progress.step("rewrite", f"{len(forward_order):,} forward nodes")
    return Rewritten(d, roots[: len(outputs)], roots[len(outputs) :], forward_order)


def differentiate(rewritten: Rewritten, wrt: list[Expr], second_order: bool, stats: CompileStats
                  ) -> tuple[Derived, list[Expr]]:
    """``derive``'s second stage: the derivatives of the rewritten outputs, and the final order."""
    clock = time.perf_counter()
    d, values, forward_order = rewritten.differentiator, rewritten.values, rewritten.forward_order
    rewriter: Rewriter = d.rewriter  # type: ignore[assignment]
    operations_seen = rewriter.operations_seen
    single = len(values) == 1
    jacobian = [d.gradient(v, wrt, forward_order if single else None) for v in values]
    hessian = d.hessian(jacobian[0], wrt) if second_order else None
    derived = Derived(values, jacobian, hessian, rewritten.aux)
    full_order = topological_order(derived.roots(), prefix=forward_order)
    stats.backward_nodes_before = rewriter.operations_seen - operations_seen
    stats.backward_nodes_after = len(full_order) - len(forward_order)
    stats.rewrites = rewriter.finish(full_order)
    stats.seconds["differentiate"] = time.perf_counter() - clock
    progress.step("differentiate", f"{stats.backward_nodes_after:,} backward nodes")
    return derived, full_order


class LazyDerived(Derived):
    """A ``Derived`` whose expressions are made by ``make`` when first read (those in ``known``
    are given now): a function restored from the disk cache, or whose code needed no scalar
    backward graph, derives it only when something asks for it."""

    def __init__(self, make: Callable[[], Derived], order: int, **known: Any) -> None:
        self._make, self._order, self._lock = make, order, threading.Lock()
        self.__dict__.update(known)

    @property
    def order(self) -> int:
        return self._order

    @property
    def made(self) -> bool:
        return "jacobian" in self.__dict__

    def __getattr__(self, name: str) -> Any:
        if name not in ("values", "jacobian", "hessian", "aux"):
            raise AttributeError(name)
        with self._lock:
            if name not in self.__dict__:
                found = self._make()
                for field_name in ("values", "jacobian", "hessian", "aux"):
                    self.__dict__.setdefault(field_name, getattr(found, field_name))
        return self.__dict__[name]


_ZERO = const(0.0)
_HEADER_NAMES = 8  # the opening comment lists at most this many wrt names

# A Hessian up to this size is returned as a tuple literal in the source; a larger
# one is filled in by a helper from its distinct non-constant entries (sparse ones stay small).
MAX_LITERAL_MATRIX = 8


@dataclass
class Layout:
    """How the derived expressions become sections of the generated function and its return."""

    sections: list[Section]
    returns: str
    matrix_cells: list[tuple[int, int, Any]] | None = None  # (i, j, output slot or constant)


def _constant_text(node: Expr) -> str:
    return format_number(float(node.param))


def _same(entry: Any) -> Any:
    return entry


def gradient_text(slots: Sequence[Any], wrt: Sequence[Parameter], shape: tuple[int, ...], bare: bool,
                  scalar: Callable[[Any], str], pack: Callable[[list[Any], tuple[int, ...]], str]) -> str:
    """The return text of the derivatives ``slots`` (C order over ``shape`` + the flat ``wrt``
    elements): one entry per parameter, a float, or an array of ``shape`` + its shape."""
    entries, start = [], 0
    row = sum(len(p.elements) for p in wrt)  # one derivative per flat wrt element
    for p in wrt:
        n = len(p.elements)
        picked = [slots[k * row + start + i] for k in range(math.prod(shape)) for i in range(n)]
        start += n
        entries.append(pack(picked, shape + p.shape) if p.is_array or shape else scalar(picked[0]))
    return entries[0] if bare else tuple_text(entries)


def values_text(values: Sequence[Any], options: Options, scalar: Callable[[Any], str] = _same,
                pack: Callable[[list[Any], tuple[int, ...]], str] = packed_text) -> str:
    """The text of the values in a compiled function's return, from their entries: ``scalar``
    writes a float's, ``pack`` an array's of a shape."""
    if options.outputs == "array":
        return pack(list(values), options.output_shape)
    texts = [scalar(v) for v in values]
    return tuple_text(texts) if options.several else texts[0]


def return_parts(values: Sequence[Any], rows: Sequence[Sequence[Any]], wrt: Sequence[Parameter], options: Options,
                 scalar: Callable[[Any], str] = _same, pack: Callable[[list[Any], tuple[int, ...]], str] = packed_text
                 ) -> list[str]:
    """The texts of the values and the gradient (or Jacobian) in a compiled function's return
    (``values_text``'s entries and writers)."""
    bare = options.bare_gradient
    if options.outputs == "array":
        gradient = gradient_text([s for row in rows for s in row], wrt, options.output_shape, bare, scalar, pack)
    else:
        texts = [gradient_text(row, wrt, (), bare, scalar, pack) for row in rows]
        gradient = tuple_text(texts) if options.several else texts[0]
    return [values_text(values, options, scalar, pack), gradient]


def _hessian_layout(hessian: list[list[Expr]], w_names: list[str], first: int, blocks: bool
                    ) -> tuple[Section, str, list[tuple[int, int, Any]] | None]:
    """The Hessian's section, its return text and (for the ``_matrix`` helper) its cells: each
    distinct entry of the upper triangle computed once, constants written in place; ``first``
    is the slot of its first output; ``blocks``: the helper always (it makes array blocks)."""
    n = len(w_names)
    distinct: dict[Expr, int] = {}  # entry -> its index among the Hessian's outputs
    hessian_names: list[str] = []
    upper: dict[tuple[int, int], int | float] = {}  # non-zero cells: output index, or a constant
    for i, row in enumerate(hessian):
        for j in range(i, n):
            entry = row[j]
            if entry.op is CONST:
                if entry is not _ZERO:
                    upper[i, j] = float(entry.param)
            elif entry in distinct:
                upper[i, j] = distinct[entry]
            else:
                upper[i, j] = distinct[entry] = len(distinct)
                hessian_names.append(f"h_{w_names[i]}_{w_names[j]}")
    section = Section("hessian (reverse over reverse, upper triangle)", "h", list(distinct), hessian_names)

    def cell(i: int, j: int) -> str:
        found = upper.get((min(i, j), max(i, j)), 0.0)
        return format_number(found) if isinstance(found, float) else f"{{{first + found}}}"

    if n <= MAX_LITERAL_MATRIX and not blocks:
        return section, tuple_text([tuple_text([cell(i, j) for j in range(n)]) for i in range(n)]), None
    cells = [(i, j, found) for (i, j), found in upper.items()]
    return section, f"_matrix{tuple_text([f'{{{first + k}}}' for k in range(len(distinct))])}", cells


def arrange(derived: Derived, wrt: Sequence[Parameter], options: Options) -> Layout:
    """Section outputs and the ``return`` text (``{k}`` is the k-th output over all sections)."""
    w_names = [w.param for w in flat(wrt)]
    slots = itertools.count()
    several, shaped = options.several, options.outputs == "array"
    value_names = [f"value_{i}" for i in range(len(derived.values))] if several else ["value"]
    aux_names = [f"aux_{i}" for i in range(len(derived.aux))]
    value_slots = [f"{{{next(slots)}}}" for _ in value_names]
    aux_slots = [f"{{{next(slots)}}}" for _ in aux_names]
    sections = [Section("value", "t", [*derived.values, *derived.aux], [*value_names, *aux_names])]

    if several:
        grad_names = [f"d{i}_{w}" for i in range(len(derived.values)) for w in w_names]
        heading = "jacobian (reverse mode, one sweep per output)"
    else:
        grad_names = [f"d_{w}" for w in w_names]
        heading = "gradient (reverse mode)"
    entries = [e for row in derived.jacobian for e in row]
    # Constants in place: the zeros of a sparse block cost no line. (Array code passes ``_finish``
    # every entry, by position.)
    if (shaped or any(p.is_array for p in wrt)) and options.backend != ARRAY.name:
        texts = [_constant_text(e) if e.op is CONST else f"{{{next(slots)}}}" for e in entries]
        computed = [(e, name) for e, name in zip(entries, grad_names) if e.op is not CONST]
        entries, grad_names = [e for e, _ in computed], [name for _, name in computed]
    else:
        texts = [f"{{{next(slots)}}}" for _ in entries]
    sections.append(Section(heading, "g", entries, grad_names))
    width = len(w_names)
    rows = [texts[k * width : (k + 1) * width] for k in range(len(derived.jacobian))]
    parts = return_parts(value_slots, rows, wrt, options)

    cells = None
    if derived.hessian is not None:
        section, text, cells = _hessian_layout(derived.hessian, w_names, next(slots), any(p.is_array for p in wrt))
        sections.append(section)
        parts.append(text)
    if aux_slots:
        parts.append(tuple_text(aux_slots))
    return Layout(sections, ", ".join(parts), cells)


def generate(outputs: list[Expr], derived: Derived, wrt: Sequence[Parameter], params: Sequence[Parameter],
             options: Options, full_order: list[Expr], stats: CompileStats) -> tuple[Emitted, dict[str, Any]]:
    """The generated source of a derived graph, and the helpers it calls: a pure function of
    its inputs, which unpickling relies on to check a stored source."""
    clock = time.perf_counter()
    found, stats.strategy, reduced = _strategy(derived, wrt, params, options, full_order)
    suffix, header = describe(outputs, wrt, options, derived.hessian is not None)
    if isinstance(found, batched.Plan):
        emitted, helper_spec = batched_code.emit_batched(f"{options.name}{suffix}", found, params, header({}))
        helper_spec = {"batched": helper_spec}
    elif found is not None:
        emitted, helper_spec = _vectorised(f"{options.name}{suffix}", found, derived, wrt, params, options,
                                           header({}))
    else:
        emitted, helper_spec = _straight(f"{options.name}{suffix}", derived, wrt, params, options, full_order,
                                         header, reduced)
        stats.shared_nodes = emitted.shared
    stats.lines = emitted.source.count("\n")
    stats.seconds["emit"] = time.perf_counter() - clock
    progress.step("emit", f"{stats.lines:,} lines")
    return emitted, helper_spec


def describe(outputs: list[Expr], wrt: Sequence[Parameter], options: Options, second_order: bool
             ) -> tuple[str, Callable[[Mapping[Expr, str]], str]]:
    """The generated function's name suffix, and its opening comment given each parameter's identifier."""
    what, suffix = ("value, gradient and hessian", "_hessian") if second_order else ("value and gradient", "_and_grad")
    if options.several:
        what, suffix = "values and jacobian", "_jacobian"

    def header(names: Mapping[Expr, str]) -> str:
        shown_wrt = [names.get(p.elements[0]) or identifier(p.name) for p in wrt[:_HEADER_NAMES]]
        if len(wrt) > _HEADER_NAMES:
            shown_wrt.append(f"... {len(wrt)} in all")
        wrt_text = ", ".join(shown_wrt)
        shown = "; ".join(to_text(o, limit=60 // len(outputs) + 10, names=names) for o in outputs)
        return f"{what} wrt ({wrt_text}) of {shown}"

    return suffix, header


def _reduced(derived: Derived, wrt: Sequence[Parameter], options: Options, order: list[Expr]
             ) -> tuple[Layout, BatchSums, list[Expr]]:
    """Array code with a reduction: its layout, whose gradient section is the distinct factors
    ``BatchSums`` sums over the batch, those sums, and ``order`` without what they replaced."""
    layout = arrange(derived, wrt, options)
    sums, layout.sections[1] = BatchSums.of(layout.sections, order)
    return layout, sums, without_unused(order, sums.replaced)


def _straight(name: str, derived: Derived, wrt: Sequence[Parameter], params: Sequence[Parameter], options: Options,
              full_order: list[Expr], header: Callable[[Mapping[Expr, str]], str],
              reduced: tuple[Layout, BatchSums, list[Expr]] | None = None) -> tuple[Emitted, dict[str, Any]]:
    """Straight-line code: a line per shared node (``symgrad.codegen``); ``reduced``: ``_reduced``'s
    result, if the strategy's choice made it already."""
    symbols = flat(params)
    position = {p: i for i, p in enumerate(symbols)}
    wrt_positions = [position[w] for w in flat(wrt)]
    array_code = options.backend == ARRAY.name
    sums = None
    if array_code and options.reduce is not None:
        layout, sums, full_order = reduced or _reduced(derived, wrt, options, full_order)
    else:
        layout = arrange(derived, wrt, options)
    if array_code:
        layout.returns = array_returns(len(derived.aux), wrt_positions, sums)
    arrays_in = any(p.is_array for p in params)
    emitted = emit_function(name, symbols, layout.sections, layout.returns,
                            annotate=options.annotate, header=header, order=full_order,
                            backend=BACKENDS[options.backend], batch=options.batch,
                            signature=params if arrays_in else None)
    helper_spec: dict[str, Any] = {}
    if layout.matrix_cells is not None:
        helper_spec["matrix"] = (len(wrt_positions), layout.matrix_cells, array_shapes(wrt), options.bare_gradient)
    if array_code:
        helper_spec["arrays"] = array_helper_spec(options.reduce, wrt, params, options.bare_gradient)
    return emitted, helper_spec


STRATEGIES = ("auto", "straight", "vectorised", "loop")


def _strategy(derived: Derived, wrt: Sequence[Parameter], params: Sequence[Parameter], options: Options,
              order: list[Expr]) -> tuple[vectorise.Plan | batched.Plan | None, str,
                                          tuple[Layout, BatchSums, list[Expr]] | None]:
    """The vectorised (or batched, for array code) plan of the code (None: straight-line code), why,
    and for reduced array code ``_reduced``'s result, which straight-line code reuses."""
    if options.strategy == "straight":
        return None, "strategy='straight'", None
    array_code = options.backend == ARRAY.name
    unsupported = batched.unsupported(options, derived.hessian is not None, wrt) if array_code else \
        "order=2" if derived.hessian is not None else None
    if unsupported is not None:
        if options.strategy == "vectorised":
            raise ValueError(f"strategy='vectorised' does not take {unsupported} yet; use 'straight' or 'auto'")
        return None, f"auto: straight-line for {unsupported}", None
    if array_code:
        reduced = layout, sums, trimmed = _reduced(derived, wrt, options, order)
        result = batched.Reduced(derived.values[0], derived.aux, layout.sections[1].outputs, sums.products,
                                 sums.negated, options.reduce, array_shapes(wrt), options.bare_gradient)
        return (*batched.choose(trimmed, params, options.batch, result, options.strategy), reduced)
    return (*vectorise.choose(order, params, derived.roots(), options.strategy), None)


def _vectorised(name: str, found: vectorise.Plan, derived: Derived, wrt: Sequence[Parameter],
                params: Sequence[Parameter], options: Options, header: str) -> tuple[Emitted, dict[str, Any]]:
    slots = found.slots

    def returns(writer: Any) -> str:
        parts = return_parts([slots[v] for v in derived.values], [[slots[e] for e in row] for row in derived.jacobian],
                             wrt, options, vectorise.scalar_text, lambda s, shape: vectorise.packed(writer, s, shape))
        if derived.aux:
            parts.append(tuple_text([vectorise.scalar_text(slots[a]) for a in derived.aux]))
        return ", ".join(parts)

    emitted, arrays = vectorise.emit_vectorised(name, found, params, returns, f"{header}; {found.size} slots")
    return emitted, {"vectorised": arrays}
