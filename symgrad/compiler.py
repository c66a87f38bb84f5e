"""Compile: differentiate, rewrite, emit, ``exec`` and cache — one call.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> fn = sg.compile(x * y + sg.exp(x), wrt=[x, y])
    >>> fn(0.0, 2.0)
    (1.0, (3.0, 0.0))
    >>> fn.forward(0.0, 2.0)
    1.0

The generated function is registered with ``linecache`` under a unique
file name, so tracebacks and ``inspect.getsource`` show its lines; a domain
error inside it (log of 0, overflow in exp...) is re-raised as an
``EvaluationError`` naming the operation, the subexpression, the line and
the inputs. Compiled functions are cached by the structure of the graph
(LRU, see ``set_cache_size``) and pickle as source.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import gc
import inspect
import itertools
import linecache
import numbers
import reprlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad import arrays
from symgrad.codegen import (
    ARRAY,
    BACKENDS,
    Emitted,
    Section,
    emit_function,
    find_failing_node,
)
from symgrad.errors import EvaluationError, SymgradError
from symgrad.expr import (
    Expr,
    as_expr,
    const,
    format_number,
    rebuild_graph,
    serialise_graph,
    symbol,
    to_text,
    topological_order,
)
from symgrad.grad import Differentiator, as_symbols
from symgrad.names import Namer
from symgrad.ops import CONST, NEG, SYMBOL, all_ops, mul
from symgrad.simplify import RewriteStats

CODEGEN_VERSION = 5  # 5: array code with a reduction passes its gradient as factors
_counter = itertools.count(1)


# ---- stats ------------------------------------------------------------------------


@dataclass
class CompileStats:
    """What compiling did: node counts, rewrites, size of the code, time per stage."""

    forward_nodes: int = 0
    backward_nodes_before: int = 0
    backward_nodes_after: int = 0
    rewrites: RewriteStats = field(default_factory=RewriteStats)
    shared_nodes: int = 0
    lines: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def _rules(self) -> str:
        rules = self.rewrites.identities.most_common()
        return f" ({', '.join(f'{k} ×{n}' for k, n in rules)})" if rules else ""

    def __str__(self) -> str:
        stages = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in self.seconds.items())
        return "\n".join([
            f"forward nodes          {self.forward_nodes}",
            f"backward nodes         {self.backward_nodes_before} asked for, "
            f"{self.backward_nodes_after} after rewrites",
            f"constants folded       {self.rewrites.folded}",
            f"identities applied     {sum(self.rewrites.identities.values())}{self._rules()}",
            f"dead nodes dropped     {self.rewrites.dead}",
            f"shared nodes (CSE)     {self.shared_nodes} computed once, used more than once",
            f"lines of code          {self.lines}",
            f"time                   {stages}",
        ])


# ---- running generated code ----------------------------------------------------------


def _float_converter(names: Sequence[str]) -> Callable[..., tuple[float, ...]]:
    def as_floats(*values: Any) -> tuple[float, ...]:
        out = []
        for name, value in zip(names, values):
            if type(value) is float:
                out.append(value)
            elif isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"argument {name!r} must be a real number (int, float or NumPy scalar), "
                    f"got {type(value).__name__} {reprlib.repr(value)}"
                )
            else:
                try:
                    out.append(float(value))
                except OverflowError:
                    raise ValueError(f"argument {name!r}: {reprlib.repr(value)} is too large for a float") from None
        return tuple(out)

    return as_floats


@dataclass
class _Program:
    """Executable generated code plus what explains its failures."""

    emitted: Emitted
    params: Sequence[Expr]
    filename: str
    function: Callable[..., Any]
    helper_spec: Any = None  # what rebuilds the helpers (kept for pickling)


def _failure_location(error: BaseException, filename: str) -> tuple[int, str | None, dict[str, Any]]:
    """Line number in the generated file where ``error`` arose, the failing code span, and the
    locals of the generated function there (its inputs among them)."""
    tb = error.__traceback__
    lineno, span, local_values = 0, None, {}
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename:
            lineno = tb.tb_lineno
            local_values = tb.tb_frame.f_locals
            positions = list(code.co_positions())
            index = tb.tb_lasti // 2
            if 0 <= index < len(positions):
                start_line, end_line, start_col, end_col = positions[index]
                if start_line == end_line == lineno and start_col is not None and end_col is not None:
                    line = linecache.getline(filename, lineno)
                    span = line.encode()[start_col:end_col].decode(errors="replace")
        tb = tb.tb_next
    return lineno, span, local_values


def _explainer(holder: list[_Program]) -> Callable[[BaseException], EvaluationError]:
    # The inputs are read from the failing frame rather than passed in: a tuple of every
    # parameter written into the source would cost compile time on every function (Rosenbrock
    # n = 10^4: ~35 ms of 436) for the sake of its rare errors.
    def explain(error: BaseException) -> EvaluationError:
        program = holder[0]
        emitted = program.emitted
        lineno, span, local_values = _failure_location(error, program.filename)
        line = linecache.getline(program.filename, lineno).strip()
        line_node = emitted.line_nodes.get(lineno)
        args = ", ".join(f"{n}={local_values.get(n)!r}" for n in emitted.param_names)
        if line_node is not None:
            params = dict(zip(program.params, emitted.param_names))
            source_lines = emitted.source.splitlines()
            node, piece = find_failing_node(line_node, emitted.line_nodes, source_lines, params, span,
                                            BACKENDS[emitted.backend])
            within = "" if piece is None else f" in its {piece}"
            what = f"{node.op.name} failed{within} ({type(error).__name__}: {error})"
            where = f"in the subexpression {to_text(node, limit=200)}"
        else:
            what = f"evaluation failed ({type(error).__name__}: {error})"
            where = "outside the computed nodes"
        return EvaluationError(
            f"{what}\n  {where}\n  at line {lineno} of {program.filename}: {line}\n  with inputs {args}"
        )

    return explain


def _run(emitted: Emitted, params: Sequence[Expr], kind: str, helper_spec: Any = None) -> _Program:
    """``exec`` generated source in a namespace holding only what its templates use (and its helpers)."""
    filename = f"<symgrad:{emitted.function_name}:{kind}:{next(_counter)}>"
    namespace: dict[str, Any] = {
        "__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "type": type, "float": float,
        "ArithmeticError": ArithmeticError, "ValueError": ValueError,
    }
    backend = BACKENDS[emitted.backend]
    for op in all_ops():
        for name, value in backend.namespace(op).items():
            if name in emitted.namespace_names:
                namespace[name] = value
    holder: list[_Program] = []
    namespace["_as_floats"] = _float_converter(emitted.param_names)
    namespace["_float_types"] = (float,) * len(emitted.param_names)
    namespace["_explain"] = _explainer(holder)
    namespace.update(_helpers(helper_spec))
    code = builtins.compile(emitted.source, filename, "exec")
    exec(code, namespace)
    function = namespace[emitted.function_name]
    # mtime None keeps linecache.checkcache from dropping the entry.
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True), filename)
    weakref.finalize(function, linecache.cache.pop, filename, None)
    program = _Program(emitted, params, filename, function, helper_spec)
    holder.append(program)
    return program


# ---- the compiled function -----------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """How a compiled function's code was generated, besides its graph."""

    name: str
    annotate: bool
    multi: bool
    backend: str
    batch: Sequence[Expr]
    reduce: str | None


class CompiledFunction(functools.partial):
    """Value and derivatives of an expression (or of several), as generated Python.

    ``fn(*args)`` returns ``(value, (d_w1, d_w2, ...))``; with ``order=2``
    also the Hessian, ``(value, gradient, hessian)``; for a list of outputs
    ``((value_0, ...), jacobian)`` with one gradient row per output. ``aux``
    values come last. ``fn.forward(*args)`` returns the value(s) alone.
    Arguments are positional or by keyword, named by ``fn.arg_names``: the
    ``wrt`` symbols first, then any other symbols of the expression, sorted by name.

    It is a ``functools.partial`` of the generated function with no bound
    arguments: calling it dispatches in C (~70 ns, against ~200 ns for a
    ``__call__`` method forwarding ``*args``).
    """

    def __new__(cls, outputs: list[Expr], derived: _Derived, wrt: list[Expr], params: list[Expr],
                program: _Program, *rest: Any) -> CompiledFunction:
        return super().__new__(cls, program.function)

    def __init__(self, outputs: list[Expr], derived: _Derived, wrt: list[Expr], params: list[Expr],
                 program: _Program, stats: CompileStats, options: _Options) -> None:
        self.outputs = tuple(outputs)
        self.options = options
        self.name, self.annotate, self.multi = options.name, options.annotate, options.multi
        self.backend, self.batch, self.reduce = options.backend, tuple(options.batch), options.reduce
        self.output = outputs[0]
        self.order = 1 if derived.hessian is None else 2
        self.value_exprs = tuple(derived.values)
        self.value_expr = derived.values[0]
        self.jacobian_exprs = tuple(map(tuple, derived.jacobian))
        self.grad_exprs = self.jacobian_exprs[0]
        self.hessian_exprs = None if derived.hessian is None else tuple(map(tuple, derived.hessian))
        self.aux_exprs = tuple(derived.aux)
        self.wrt = tuple(wrt)
        self.params = tuple(params)
        self._derived = derived
        self._program = program
        self._call = program.function
        self.stats = stats
        self._forward_lock = threading.Lock()

    @property
    def source(self) -> str:
        """The generated source of ``fn(...)`` (value and derivatives), exactly as it ran."""
        return self._program.emitted.source

    @property
    def arg_names(self) -> tuple[str, ...]:
        """Names of the arguments, in positional order."""
        return tuple(self._program.emitted.param_names)

    @property
    def wrt_names(self) -> tuple[str, ...]:
        return tuple(w.param for w in self.wrt)

    @functools.cached_property
    def _forward_program(self) -> _Program:
        with self._forward_lock:
            names = [f"value_{i}" for i in range(len(self.value_exprs))] if self.multi else ["value"]
            returns = _tuple_text([f"{{{i}}}" for i in range(len(names))]) if self.multi else "{0}"
            array_code = self.backend == ARRAY.name
            if array_code:
                returns = _array_returns(0, [], gradient=False)
            shown = "; ".join(to_text(o, limit=60) for o in self.outputs)
            emitted = emit_function(
                self.name, self.params, [Section("", "t", list(self.value_exprs), names)], returns,
                header=lambda _names: f"value of {shown}", backend=BACKENDS[self.backend], batch=self.batch,
            )
            return _run(emitted, self.params, "forward", {"arrays": (self.reduce, None)} if array_code else None)

    @property
    def forward(self) -> Callable[..., Any]:
        """The value alone (a tuple of them for several outputs), no derivative work."""
        return self._forward_program.function

    @property
    def forward_source(self) -> str:
        return self._forward_program.emitted.source

    # draw(**options), the value and gradient graphs after rewrites as ``sg.draw`` draws them, is
    # given by symgrad.viz: drawing depends on compiled functions, never the other way round.

    def report(self) -> str:
        """What compiling did, as text: ``print(fn.report())``."""
        return f"{self!r}\n{self.stats}"

    def __repr__(self) -> str:
        what = {1: "gradient", 2: "gradient and hessian"}[self.order]
        if self.multi:
            what = f"jacobian of {len(self.outputs)} outputs"
        return (f"<CompiledFunction {self._program.emitted.function_name}({', '.join(self.arg_names)}) "
                f"{what} wrt ({', '.join(self.wrt_names)}), {self.stats.lines} lines>")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its graph and its source. Unpickling generates the source again from the
        # graph and refuses a stored source that differs: only code symgrad's emitter wrote runs.
        derived = self._derived.flat()
        with _no_gc_pauses():
            records, roots = serialise_graph([*self.outputs, *derived, *self.wrt, *self.params])
        state = {
            "graph": (records, roots), "n_outputs": len(self.outputs), "n_derived": len(derived),
            "n_wrt": len(self.wrt), "n_params": len(self.params), "order": self.order, "multi": self.multi,
            "backend": self.backend, "batch": [b.param for b in self.batch], "reduce": self.reduce,
            "annotate": self.annotate, "name": self.name, "source": self.source, "stats": self.stats,
            "codegen_version": CODEGEN_VERSION,
        }
        return (_restore, (state,))


def _restore(state: dict[str, Any]) -> CompiledFunction:
    _check_state(state)
    with _no_gc_pauses():
        try:
            return _restore_checked(state)
        except SymgradError:
            raise
        except (StopIteration, LookupError, TypeError, ValueError) as error:
            raise SymgradError(f"refusing to load a compiled function: its stored graph does not fit its "
                               f"stored counts ({type(error).__name__}: {error})") from None


# What each field of a pickled compiled function may hold (anything else is refused before use).
_STATE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "graph": lambda v: type(v) is tuple and len(v) == 2,
    **{count: lambda v: type(v) is int and v >= 0 for count in ("n_outputs", "n_derived", "n_wrt", "n_params")},
    "order": lambda v: type(v) is int and v in (1, 2),
    "multi": lambda v: type(v) is bool,
    "annotate": lambda v: type(v) is bool,
    "backend": lambda v: type(v) is str and v in BACKENDS,
    "batch": lambda v: type(v) is list and all(type(b) is str and b for b in v),
    "reduce": lambda v: v is None or (type(v) is str and v in arrays.REDUCTIONS),
    "name": lambda v: type(v) is str,
    "source": lambda v: type(v) is str,
    "stats": lambda v: isinstance(v, CompileStats),
}


def _check_state(state: Any) -> None:
    if type(state) is not dict:
        raise SymgradError(f"refusing to load a compiled function: its state is a {type(state).__name__}, not a dict")
    for key, valid in _STATE_FIELDS.items():
        if key not in state or not valid(state[key]):
            raise SymgradError(f"refusing to load a compiled function: its field {key!r} is missing or not valid "
                               f"({reprlib.repr(state.get(key))})")


def _restore_checked(state: dict[str, Any]) -> CompiledFunction:
    records, roots = state["graph"]
    rest = iter(rebuild_graph(records, roots))

    def take(count: int) -> list[Expr]:
        return [next(rest) for _ in range(count)]

    outputs = take(state["n_outputs"])
    derived = _Derived.unflatten(take(state["n_derived"]), len(outputs), state["n_wrt"], state["order"] == 2)
    wrt = take(state["n_wrt"])
    params = take(state["n_params"])
    batch = [symbol(b) for b in state["batch"]]
    options = _Options(state["name"], state["annotate"], state["multi"], state["backend"], batch, state["reduce"])
    full_order = topological_order(derived.roots(), prefix=topological_order([*derived.values, *derived.aux]))
    emitted, helper_spec = _generate(outputs, derived, wrt, params, options, full_order, CompileStats())
    if emitted.source != state["source"]:
        raise SymgradError(
            "refusing to load a compiled function: its stored source is not what symgrad generates from its "
            "stored graph (the data was altered, or it was pickled by another symgrad version "
            f"(codegen {state.get('codegen_version')}, this one {CODEGEN_VERSION}) or with other primitives "
            "registered). Unpickle only data you trust: like any pickle, it can run code."
        )
    program = _run(emitted, params, "restored", helper_spec)
    return CompiledFunction(outputs, derived, wrt, params, program, state["stats"], options)


# ---- pipeline -----------------------------------------------------------------------


@dataclass
class _Derived:
    """The rewritten outputs and their derivatives, sharing one graph."""

    values: list[Expr]
    jacobian: list[list[Expr]]  # one gradient row per output
    hessian: list[list[Expr]] | None  # of the single output, when order=2
    aux: list[Expr]

    def flat(self) -> list[Expr]:
        hessian = [e for row in self.hessian for e in row] if self.hessian else []
        return [*self.values, *(e for row in self.jacobian for e in row), *hessian, *self.aux]

    def roots(self) -> list[Expr]:
        """Every distinct expression, each once (a Hessian has n² entries, most of them often 0)."""
        return list(dict.fromkeys(self.flat()))

    @classmethod
    def unflatten(cls, exprs: list[Expr], n_values: int, n_wrt: int, hessian: bool) -> _Derived:
        rest = iter(exprs)
        values = [next(rest) for _ in range(n_values)]
        jacobian = [[next(rest) for _ in range(n_wrt)] for _ in range(n_values)]
        matrix = [[next(rest) for _ in range(n_wrt)] for _ in range(n_wrt)] if hessian else None
        return cls(values, jacobian, matrix, list(rest))


def _derive(outputs: list[Expr], aux: list[Expr], wrt: list[Expr], second_order: bool,
            order: list[Expr] | None, stats: CompileStats) -> tuple[_Derived, list[Expr]]:
    """Rewrite the outputs, differentiate them (rewriting as it goes); also the final topological order."""
    clock = time.perf_counter()
    if order is None:
        order = topological_order([*outputs, *aux])
    d = Differentiator()
    rewriter = d.rewriter
    roots = d.prepare([*outputs, *aux], order)
    values, aux = roots[: len(outputs)], roots[len(outputs) :]
    forward_order = topological_order(roots) if rewriter.changed else order
    stats.seconds["rewrite"] = time.perf_counter() - clock

    clock = time.perf_counter()
    settled = rewriter.settled
    single = len(values) == 1
    jacobian = [d.gradient(v, wrt, forward_order if single else None) for v in values]
    hessian = d.hessian(jacobian[0], wrt) if second_order else None
    derived = _Derived(values, jacobian, hessian, aux)
    full_order = topological_order(derived.roots(), prefix=forward_order)
    stats.forward_nodes = len(order)
    stats.backward_nodes_before = rewriter.settled - settled
    stats.backward_nodes_after = len(full_order) - len(forward_order)
    stats.rewrites = rewriter.finish(full_order)
    stats.seconds["differentiate"] = time.perf_counter() - clock
    return derived, full_order


_ZERO = const(0.0)
_HEADER_NAMES = 8  # the opening comment lists at most this many wrt names

# A Hessian up to this size is returned as a tuple literal in the source; a larger
# one is filled in by a helper from its distinct non-constant entries (sparse ones stay small).
MAX_LITERAL_MATRIX = 8


def _tuple_text(items: Sequence[str]) -> str:
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


@dataclass
class _Layout:
    """How the derived expressions become sections of the generated function and its return."""

    sections: list[Section]
    returns: str
    matrix_cells: list[tuple[int, int, Any]] | None = None  # (i, j, output slot or constant)


def _layout(derived: _Derived, wrt: list[Expr], multi: bool) -> _Layout:
    """Section outputs and the ``return`` text (``{k}`` is the k-th output over all sections)."""
    w_names = [w.param for w in wrt]
    slots = itertools.count()
    value_names = [f"value_{i}" for i in range(len(derived.values))] if multi else ["value"]
    aux_names = [f"aux_{i}" for i in range(len(derived.aux))]
    value_slots = [f"{{{next(slots)}}}" for _ in value_names]
    aux_slots = [f"{{{next(slots)}}}" for _ in aux_names]
    sections = [Section("value", "t", [*derived.values, *derived.aux], [*value_names, *aux_names])]

    if multi:
        grad_names = [f"d{i}_{w}" for i in range(len(derived.values)) for w in w_names]
        heading = "jacobian (reverse mode, one sweep per output)"
    else:
        grad_names = [f"d_{w}" for w in w_names]
        heading = "gradient (reverse mode)"
    sections.append(Section(heading, "g", [e for row in derived.jacobian for e in row], grad_names))
    rows = [_tuple_text([f"{{{next(slots)}}}" for _ in row]) for row in derived.jacobian]
    parts = [_tuple_text(value_slots) if multi else value_slots[0], _tuple_text(rows) if multi else rows[0]]

    cells = None
    if derived.hessian is not None:
        # Each distinct entry of the upper triangle is computed once; constants are written in place.
        n = len(wrt)
        distinct: dict[Expr, int] = {}  # entry -> its index among the Hessian's outputs
        hessian_names: list[str] = []
        upper: dict[tuple[int, int], int | float] = {}  # non-zero cells: output index, or a constant
        for i, row in enumerate(derived.hessian):
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
        sections.append(Section("hessian (reverse over reverse, upper triangle)", "h", list(distinct),
                                hessian_names))
        first = next(slots)  # the slot of the Hessian's first output

        def cell(i: int, j: int) -> str:
            found = upper.get((min(i, j), max(i, j)), 0.0)
            return format_number(found) if isinstance(found, float) else f"{{{first + found}}}"

        if n <= MAX_LITERAL_MATRIX:
            parts.append(_tuple_text([_tuple_text([cell(i, j) for j in range(n)]) for i in range(n)]))
        else:
            cells = [(i, j, found) for (i, j), found in upper.items()]
            parts.append(f"_matrix{_tuple_text([f'{{{first + k}}}' for k in range(len(distinct))])}")
    if aux_slots:
        parts.append(_tuple_text(aux_slots))
    return _Layout(sections, ", ".join(parts), cells)


def _helpers(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The helpers generated code may call besides the op table's functions, from plain data
    (kept for pickling): ``_matrix`` for a large Hessian, the array runtime for array code."""
    found: dict[str, Any] = {}
    if spec and "matrix" in spec:
        n, cells = spec["matrix"]
        found["_matrix"] = _matrix_builder(n, cells)
    if spec and "arrays" in spec:
        found.update(arrays.helpers(*spec["arrays"]))
    return found


def _matrix_builder(n: int, cells: list[tuple[int, int, Any]]) -> Callable[..., tuple[tuple[float, ...], ...]]:
    """The helper a large Hessian's return calls: a symmetric n×n tuple from its distinct entries."""
    slots = [(i, j, k) for i, j, k in cells if isinstance(k, int)]
    constants = [(i, j, c) for i, j, c in cells if isinstance(c, float)]

    def matrix(*entries: float) -> tuple[tuple[float, ...], ...]:
        rows = [[0.0] * n for _ in range(n)]
        for i, j, c in constants:
            rows[i][j] = rows[j][i] = c
        for i, j, k in slots:
            rows[i][j] = rows[j][i] = entries[k]
        return tuple(map(tuple, rows))

    return matrix


@contextlib.contextmanager
def _no_gc_pauses():
    """Pause the cyclic GC: the passes allocate millions of acyclic objects, and
    collections triggered by those allocations rescan the whole heap (measured:
    ~1.6x slower set-up on a million-node graph)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Cache:
    """A bounded, thread-safe LRU of compiled functions keyed by graph structure."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[Any, ...], CompiledFunction] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> CompiledFunction | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], fn: CompiledFunction) -> CompiledFunction:
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:  # another thread compiled it first: share its result
                return existing
            self._entries[key] = fn
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return fn

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


_cache = _Cache()


def clear_cache() -> None:
    """Forget every compiled function."""
    _cache.clear()
    _hvp_cache.clear()


def set_cache_size(size: int) -> None:
    """Keep at most ``size`` compiled functions (least recently used go first)."""
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"cache size must be a non-negative int, got {size!r}")
    with _cache._lock:
        _cache.size = size
        while len(_cache._entries) > size:
            _cache._entries.popitem(last=False)


def cache_info() -> dict[str, int]:
    """``hits``, ``misses``, ``size`` (entries held) and ``limit``."""
    return {"hits": _cache.hits, "misses": _cache.misses, "size": len(_cache._entries),
            "limit": _cache.size}


def _cache_key(roots: Sequence[Expr], *options: Any) -> tuple[Any, ...]:
    """The cache key of compiling ``roots`` with ``options``: the root nodes themselves.

    Hash-consing makes a node's identity its structure (op, arguments, and a
    param told apart by type and bit pattern: ``1`` vs ``1.0``, ``0.0`` vs
    ``-0.0``) for as long as it lives, and a cache entry keeps its graph
    alive; so a graph rebuilt with the same structure finds the same roots,
    and no walk of the graph is needed.
    """
    return (*roots, *options)


def _signature(roots: list[Expr], wrt: Any, args: Any) -> tuple[list[Expr], list[Expr], list[Expr]]:
    """The graph's topological order, the ``wrt`` symbols (default: every symbol, by name), the parameters.

    A ``wrt`` name must name a symbol the expression uses or one of ``args`` (any other is
    almost surely a typo); a ``wrt`` symbol it does not use is an argument whose derivative is 0.
    """
    graph_order = topological_order(roots)
    used = [n for n in graph_order if n.op is SYMBOL]
    given = None if args is None else as_symbols(args, "args")
    if wrt is None:
        wrt_nodes = sorted(used, key=lambda s: s.param)
    else:
        wrt_nodes = as_symbols(wrt, among=lambda: used if given is None else [*used, *given])
    return graph_order, wrt_nodes, _order_params(used, wrt_nodes, given)


def _order_params(used: list[Expr], wrt: list[Expr], given: list[Expr] | None) -> list[Expr]:
    if given is not None:
        listed = set(given)
        missing = [s.param for s in used if s not in listed]
        if missing:
            raise ValueError(f"args leaves out symbols the expression uses: {', '.join(missing)}")
        absent = [w.param for w in wrt if w not in listed]
        if absent:
            raise ValueError(f"args must include every wrt symbol; missing: {', '.join(absent)}")
        return given
    differentiated = set(wrt)
    rest = sorted((s for s in used if s not in differentiated), key=lambda s: s.param)
    return [*wrt, *rest]


def compile(  # noqa: A001  (sg.compile is the natural name)
    output: Any,
    wrt: Any = None,
    *,
    args: Any = None,
    name: str = "f",
    annotate: bool = False,
    cache: bool = True,
    aux: Sequence[Any] = (),
    order: int = 1,
    backend: str = "python",
    batch: Any = None,
    reduce: str | None = None,
) -> CompiledFunction:
    """Compile ``output`` to a function returning its value and gradient.

    ``output`` may be a list of expressions: the function then returns their
    values and the Jacobian (one gradient row per output), all outputs
    sharing one schedule. ``order=2`` adds the Hessian of a single output:
    ``value, gradient, hessian = fn(...)``. ``wrt``: the symbols (or names)
    to differentiate by; default, every symbol sorted by name. ``args``: the
    full positional order of the arguments (default: ``wrt`` then the other
    symbols, sorted). ``annotate=True`` adds to each generated line a comment
    with the subexpression it computes. ``aux``: more expressions computed in
    the same function (sharing its work), returned last. Cached by graph structure.

    ``backend="numpy"`` emits array code instead (see ``symgrad.arrays``):
    ``batch`` names the inputs that carry samples, ``reduce`` is None
    (per-sample values and gradients), ``"sum"`` or ``"mean"``.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> sg.compile(x**2 * y, wrt=[x, y], order=2)(1.0, 3.0)
        (3.0, (6.0, 1.0), ((6.0, 2.0), (2.0, 0.0)))
    """
    multi = isinstance(output, (list, tuple))
    outputs = [as_expr(o, f"compile() output {i}") for i, o in enumerate(output)] if multi \
        else [as_expr(output, "compile() output")]
    if not outputs:
        raise ValueError("compile() needs at least one output expression")
    aux = [as_expr(a, f"aux[{i}]") for i, a in enumerate(aux)]
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 (gradient) or 2 (gradient and hessian), got {order!r}")
    if order == 2 and multi:
        raise ValueError("order=2 (the hessian) needs a single output; compile each output separately")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'python' or 'numpy', got {backend!r}")
    array_code = backend == ARRAY.name
    if not array_code and (batch is not None or reduce is not None):
        raise ValueError("batch= and reduce= are options of backend='numpy'")
    if array_code and (order == 2 or multi):
        raise ValueError("backend='numpy' compiles one output's value and gradient (no order=2, no list)")
    if reduce not in arrays.REDUCTIONS:
        raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")
    with _no_gc_pauses():
        clock = time.perf_counter()
        graph_order, wrt_nodes, params = _signature([*outputs, *aux], wrt, args)
        batch_nodes = _batch_symbols(batch, params)
        key = _cache_key([*outputs, *aux], len(outputs), multi, order, tuple(w.param for w in wrt_nodes),
                         tuple(p.param for p in params), name, annotate, backend,
                         tuple(b.param for b in batch_nodes), reduce)
        if cache:
            hit = _cache.get(key)
            if hit is not None:
                return hit
        key_seconds = time.perf_counter() - clock

        stats = CompileStats()
        derived, full_order = _derive(outputs, aux, wrt_nodes, order == 2, graph_order, stats)
        options = _Options(name, annotate, multi, backend, batch_nodes, reduce)
        emitted, helper_spec = _generate(outputs, derived, wrt_nodes, params, options, full_order, stats)
        clock = time.perf_counter()
        program = _run(emitted, params, "grad", helper_spec)
        stats.seconds["exec"] = time.perf_counter() - clock
        stats.seconds = {"cache key": key_seconds, **stats.seconds}
        fn = CompiledFunction(outputs, derived, wrt_nodes, params, program, stats, options)
    return _cache.put(key, fn) if cache else fn


def _generate(outputs: list[Expr], derived: _Derived, wrt: list[Expr], params: list[Expr], options: _Options,
              full_order: list[Expr], stats: CompileStats) -> tuple[Emitted, dict[str, Any]]:
    """The generated source of a derived graph, and the helpers it calls: a pure function of
    its inputs, which unpickling relies on to check a stored source."""
    clock = time.perf_counter()
    array_code = options.backend == ARRAY.name
    second_order = derived.hessian is not None
    layout = _layout(derived, wrt, options.multi)
    position = {p: i for i, p in enumerate(params)}
    wrt_positions = [position[w] for w in wrt]
    if array_code:
        sums = _BatchSums.of(layout, full_order) if options.reduce is not None else None
        if sums is not None:
            full_order = _without_unused(full_order, sums.replaced)
        layout.returns = _array_returns(len(derived.aux), wrt_positions, sums)
    what, suffix = ("value, gradient and hessian", "_hessian") if second_order else ("value and gradient", "_and_grad")
    if options.multi:
        what, suffix = "values and jacobian", "_jacobian"

    def header(names: dict[Expr, str]) -> str:
        shown_wrt = [names[w] for w in wrt[:_HEADER_NAMES]]
        if len(wrt) > _HEADER_NAMES:
            shown_wrt.append(f"... {len(wrt)} in all")
        wrt_text = ", ".join(shown_wrt)
        shown = "; ".join(to_text(o, limit=60 // len(outputs) + 10, names=names) for o in outputs)
        return f"{what} wrt ({wrt_text}) of {shown}"

    emitted = emit_function(f"{options.name}{suffix}", params, layout.sections, layout.returns,
                            annotate=options.annotate, header=header, order=full_order,
                            backend=BACKENDS[options.backend], batch=options.batch)
    stats.lines = emitted.source.count("\n")
    stats.shared_nodes = emitted.shared
    stats.seconds["emit"] = time.perf_counter() - clock
    helper_spec: dict[str, Any] = {}
    if layout.matrix_cells is not None:
        helper_spec["matrix"] = (len(wrt), layout.matrix_cells)
    if array_code:
        helper_spec["arrays"] = (options.reduce, wrt_positions)
    return emitted, helper_spec


def _batch_symbols(batch: Any, params: list[Expr]) -> list[Expr]:
    if batch is None:
        return []
    found = as_symbols(batch, "batch")
    for i, b in enumerate(found):
        if b not in params:
            raise ValueError(f"batch[{i}]: {b.param!r} is not an argument "
                             f"(arguments: {', '.join(p.param for p in params)})")
    return found


def _array_returns(n_aux: int, wrt_positions: list[int], sums: _BatchSums | None = None,
                   gradient: bool = True) -> str:
    """Array code returns through ``_finish``, which broadcasts and reduces (``symgrad.arrays``)."""
    aux = _tuple_text([f"{{{1 + i}}}" for i in range(n_aux)])
    if not gradient:
        return f"_finish(xp, batch_shape, {{0}}, (), (), {aux})"
    wrt = _tuple_text([f"{{p[{i}]}}" for i in wrt_positions])
    if sums is None:
        grads = _tuple_text([f"{{{1 + n_aux + i}}}" for i in range(len(wrt_positions))])
        return f"_finish(xp, batch_shape, {{0}}, {grads}, {wrt}, {aux})"
    factors = _tuple_text([f"{{{1 + n_aux + i}}}" for i in range(sums.n_factors)])
    products = _tuple_text([_tuple_text([str(i), str(j)]) for i, j in sums.products])
    signs = f", negated={_tuple_text([str(k) for k in sums.negated])}" if sums.negated else ""
    return f"_finish(xp, batch_shape, {{0}}, {factors}, {wrt}, {aux}, products={products}{signs})"


def _without_unused(order: list[Expr], dropped: set[Expr]) -> list[Expr]:
    """``order`` (topological) without the nodes of ``dropped`` that no node kept reads."""
    kept: list[Expr] = []
    read: set[Expr] = set()
    for node in reversed(order):
        if node in dropped and node not in read:
            continue
        kept.append(node)
        read.update(node.args)
    kept.reverse()
    return kept


@dataclass
class _BatchSums:
    """A reduced gradient as ``_finish`` sums it over the batch: entry k is the sum of
    ``factors[i] * factors[j]`` for ``(i, j) = products[k]`` (``j = -1``: of ``factors[i]``
    alone), negated for k in ``negated``.

    Summing commutes with negation and is bilinear, so the generated code computes neither
    the ``-g`` nor the ``a * b`` of each entry per sample: ``_finish`` sums a small batch's
    products in a few calls over the distinct factors laid out as rows, and a mid-size one's
    as a dot product each (a model's weight gradients are outer products of adjoints and
    activations: 337 entries from 67 factors for micrograd's moons MLP).
    """

    n_factors: int
    products: list[tuple[int, int]]
    negated: list[int]
    replaced: set[Expr]  # the entries (and negated entries' products) no longer computed as such

    @classmethod
    def of(cls, layout: _Layout, order: list[Expr]) -> _BatchSums:
        """Rewrite the layout's gradient section to output the distinct factors, unnamed.

        An entry ``a * b`` is split only where nothing else reads the product (the adjoint
        of a hidden unit is also read by the layer below: it is computed anyway), nor
        outputs it: the value or an aux output can be a gradient entry (d/dw x*exp(w))."""
        section = layout.sections[1]
        entries = set(section.outputs)
        negations = {e for e in entries if e.op is NEG}
        cores = {e.args[0] for e in negations} | entries
        other_outputs = {o for other in layout.sections if other is not section for o in other.outputs}
        read_elsewhere = {arg for node in order if node not in negations for arg in node.args if arg in cores}
        read_elsewhere |= (other_outputs & cores) | {e.args[0] for e in negations & other_outputs}
        factors: dict[Expr, int] = {}
        products, negated, replaced = [], [], set()
        for k, entry in enumerate(section.outputs):
            replaced.add(entry)
            if entry.op is NEG:
                negated.append(k)
                entry = entry.args[0]
                replaced.add(entry)
            split = entry.op is mul and entry not in read_elsewhere and CONST not in (a.op for a in entry.args)
            pair = entry.args if split else (entry,)
            index = [factors.setdefault(factor, len(factors)) for factor in pair]
            products.append((index[0], index[1] if len(index) > 1 else -1))
        layout.sections[1] = Section(section.heading, section.prefix, list(factors), [None] * len(factors))
        # What another section outputs is computed whatever this one does with it.
        return cls(len(factors), products, negated, replaced.difference(factors, other_outputs))


# ---- Hessian-vector products --------------------------------------------------------


class HVPFunction:
    """``hvp(point, vector)``: the Hessian of one expression at ``point`` times ``vector``.

    ``point`` holds the values of ``arg_names`` (the ``wrt`` symbols first);
    ``vector`` has one entry per ``wrt`` symbol. H is never formed: the
    generated code is forward mode over the reverse-mode gradient
    (see ``symgrad.grad.Differentiator.hvp``).
    """

    def __init__(self, program: _Program, n_point: int, n_wrt: int, exprs: list[Expr]) -> None:
        self._program = program
        self._call = program.function
        self._n_point = n_point
        self._n_wrt = n_wrt
        self.exprs = tuple(exprs)

    @property
    def source(self) -> str:
        return self._program.emitted.source

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self._program.emitted.param_names[: self._n_point])

    def __call__(self, point: Sequence[float], vector: Sequence[float]) -> tuple[float, ...]:
        point, vector = tuple(point), tuple(vector)
        if len(point) != self._n_point:
            raise TypeError(f"hvp: point needs {self._n_point} values ({', '.join(self.arg_names)}), "
                            f"got {len(point)}")
        if len(vector) != self._n_wrt:
            raise TypeError(f"hvp: vector needs {self._n_wrt} values (one per wrt symbol), got {len(vector)}")
        return self._call(*point, *vector)


_hvp_cache: _Cache = _Cache()


def compile_hvp(output: Any, wrt: Any = None, *, args: Any = None, name: str = "f",
                cache: bool = True) -> HVPFunction:
    """Compile a Hessian-vector product of ``output``: ``hvp(point, vector) -> H @ vector``.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> hvp = sg.compile_hvp(x**2 * y, [x, y])
        >>> hvp((1.0, 3.0), (1.0, 0.0))      # first column of [[6, 2], [2, 0]]
        (6.0, 2.0)
    """
    output = as_expr(output, "compile_hvp() output")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    with _no_gc_pauses():
        graph_order, wrt_nodes, params = _signature([output], wrt, args)
        key = _cache_key([output], "hvp", tuple(w.param for w in wrt_nodes), tuple(p.param for p in params), name)
        hit = _hvp_cache.get(key) if cache else None
        if hit is not None:
            return hit
        namer = Namer(p.param for p in params)
        vector = [symbol(namer.claim(f"v_{w.param}")) for w in wrt_nodes]
        d = Differentiator()
        (value,) = d.prepare([output], graph_order)
        products = d.hvp(d.gradient(value, wrt_nodes), wrt_nodes, vector)
        all_params = [*params, *vector]
        emitted = emit_function(
            f"{name}_hvp", all_params,
            [Section("hessian-vector product (forward mode over the reverse-mode gradient)", "t", products,
                     [f"hv_{w.param}" for w in wrt_nodes])],
            _tuple_text([f"{{{i}}}" for i in range(len(products))]),
            header=lambda names: f"hessian of {to_text(output, limit=60, names=names)} times "
                                 f"({', '.join(names[v] for v in vector)})",
        )
        fn = HVPFunction(_run(emitted, all_params, "hvp"), len(params), len(wrt_nodes), products)
    return _hvp_cache.put(key, fn) if cache else fn


# ---- @jit ---------------------------------------------------------------------------


class Jitted:
    """A Python function of floats, traced once with symbols named after its parameters.

    >>> import symgrad as sg
    >>> @sg.jit
    ... def loss(w, b):
    ...     return (w * 2.0 + b - 1.0) ** 2
    >>> loss.value_and_grad(1.0, 0.0)
    (1.0, (4.0, 2.0))
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        signature = inspect.signature(fn)
        for p in signature.parameters.values():
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"@sg.jit needs plain parameters; {fn.__name__} has {p}")
        self.arg_names = tuple(signature.parameters)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def expr(self) -> Expr:
        """The traced expression."""
        result = self.fn(*(symbol(n) for n in self.arg_names))
        return as_expr(result, f"the value returned by {self.fn.__name__}")

    @functools.cached_property
    def compiled(self) -> CompiledFunction:
        return compile(self.expr, wrt=list(self.arg_names), args=list(self.arg_names),
                       name=self.fn.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        return self.compiled.forward(*args, **kwargs)

    def value_and_grad(self, *args: Any, **kwargs: Any) -> tuple[float, tuple[float, ...]]:
        return self.compiled(*args, **kwargs)

    def grad(self, *args: Any, **kwargs: Any) -> tuple[float, ...]:
        return self.compiled(*args, **kwargs)[1]

    @functools.cached_property
    def compiled_hessian(self) -> CompiledFunction:
        return compile(self.expr, wrt=list(self.arg_names), args=list(self.arg_names),
                       name=self.fn.__name__, order=2)

    def hessian(self, *args: Any, **kwargs: Any) -> tuple[tuple[float, ...], ...]:
        """The matrix of second derivatives at a point (compiled on first use)."""
        return self.compiled_hessian(*args, **kwargs)[2]

    @property
    def source(self) -> str:
        return self.compiled.source


def jit(fn: Callable[..., Any]) -> Jitted:
    """Decorator: see ``Jitted``."""
    return Jitted(fn)
