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
import hashlib
import inspect
import itertools
import linecache
import marshal
import numbers
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgrad.codegen import Emitted, Section, emit_function, find_failing_node
from symgrad.errors import EvaluationError
from symgrad.expr import (
    Expr,
    as_expr,
    rebuild_graph,
    serialise_graph,
    symbol,
    to_text,
    topological_order,
)
from symgrad.grad import adjoints, as_symbols
from symgrad.ops import SYMBOL, all_ops
from symgrad.simplify import Rewriter, RewriteStats

CODEGEN_VERSION = 1
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
            f"backward nodes         {self.backward_nodes_before} before rewrites, {self.backward_nodes_after} after",
            f"constants folded       {self.rewrites.folded}",
            f"identities applied     {sum(self.rewrites.identities.values())}{self._rules()}",
            f"dead nodes dropped     {self.rewrites.dead}",
            f"shared nodes (CSE)     {self.shared_nodes} computed once, used more than once",
            f"lines of code          {self.lines}",
            f"time                   {stages}",
        ])


# ---- running generated code ----------------------------------------------------------


_FLOAT_ONLY = frozenset({float})


def _float_converter(names: Sequence[str]) -> Callable[..., tuple[float, ...]]:
    def as_floats(*values: Any) -> tuple[float, ...]:
        if set(map(type, values)) <= _FLOAT_ONLY:  # many arguments, all floats: C-speed check
            return values
        out = []
        for name, value in zip(names, values):
            if type(value) is float:
                out.append(value)
            elif isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"argument {name!r} must be a real number (int, float or NumPy scalar), "
                    f"got {type(value).__name__} {value!r}"
                )
            else:
                out.append(float(value))
        return tuple(out)

    return as_floats


@dataclass
class _Program:
    """Executable generated code plus what explains its failures."""

    emitted: Emitted
    params: Sequence[Expr]
    filename: str
    function: Callable[..., Any]


def _failure_location(error: BaseException, filename: str) -> tuple[int, str | None]:
    """Line number in the generated file where ``error`` arose, and the failing code span."""
    tb = error.__traceback__
    lineno, span = 0, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename:
            lineno = tb.tb_lineno
            positions = list(code.co_positions())
            index = tb.tb_lasti // 2
            if 0 <= index < len(positions):
                start_line, end_line, start_col, end_col = positions[index]
                if start_line == end_line == lineno and start_col is not None and end_col is not None:
                    line = linecache.getline(filename, lineno)
                    span = line.encode()[start_col:end_col].decode(errors="replace")
        tb = tb.tb_next
    return lineno, span


def _explainer(holder: list[_Program]) -> Callable[[BaseException, tuple[Any, ...]], EvaluationError]:
    def explain(error: BaseException, inputs: tuple[Any, ...]) -> EvaluationError:
        program = holder[0]
        emitted = program.emitted
        lineno, span = _failure_location(error, program.filename)
        line = linecache.getline(program.filename, lineno).strip()
        line_node = emitted.line_nodes.get(lineno)
        args = ", ".join(f"{n}={v!r}" for n, v in zip(emitted.param_names, inputs))
        if line_node is not None:
            params = dict(zip(program.params, emitted.param_names))
            source_lines = emitted.source.splitlines()
            node = find_failing_node(line_node, emitted.line_nodes, source_lines, params, span)
            what = f"{node.op.name} failed ({type(error).__name__}: {error})"
            where = f"in the subexpression {to_text(node, limit=200)}"
        else:
            what = f"evaluation failed ({type(error).__name__}: {error})"
            where = "outside the computed nodes"
        return EvaluationError(
            f"{what}\n  {where}\n  at line {lineno} of {program.filename}: {line}\n  with inputs {args}"
        )

    return explain


def _run(emitted: Emitted, params: Sequence[Expr], kind: str) -> _Program:
    """``exec`` generated source in a namespace holding only what its templates use."""
    filename = f"<symgrad:{emitted.function_name}:{kind}:{next(_counter)}>"
    namespace: dict[str, Any] = {
        "__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "type": type, "float": float,
        "ArithmeticError": ArithmeticError, "ValueError": ValueError,
    }
    for op in all_ops():
        for name, value in op.namespace.items():
            if name in emitted.namespace_names:
                namespace[name] = value
    holder: list[_Program] = []
    namespace["_as_floats"] = _float_converter(emitted.param_names)
    namespace["_explain"] = _explainer(holder)
    code = builtins.compile(emitted.source, filename, "exec")
    exec(code, namespace)
    function = namespace[emitted.function_name]
    # mtime None keeps linecache.checkcache from dropping the entry.
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True), filename)
    weakref.finalize(function, linecache.cache.pop, filename, None)
    program = _Program(emitted, params, filename, function)
    holder.append(program)
    return program


# ---- the compiled function -----------------------------------------------------------


class CompiledFunction:
    """Value and gradient of an expression, as generated Python.

    ``fn(*args)`` returns ``(value, (d_w1, d_w2, ...))``; ``fn.forward(*args)``
    returns the value alone. Arguments are positional or by keyword, named
    by ``fn.arg_names``: the ``wrt`` symbols first, then any other symbols of
    the expression, sorted by name.
    """

    def __init__(self, output: Expr, rewritten: list[Expr], wrt: list[Expr], params: list[Expr],
                 program: _Program, stats: CompileStats, name: str) -> None:
        self.output = output
        self.value_expr = rewritten[0]
        self.grad_exprs = tuple(rewritten[1 : 1 + len(wrt)])
        self.aux_exprs = tuple(rewritten[1 + len(wrt) :])
        self.wrt = tuple(wrt)
        self.params = tuple(params)
        self._program = program
        self._call = program.function
        self.stats = stats
        self.name = name
        self._forward_lock = threading.Lock()

    @property
    def source(self) -> str:
        """The generated source of ``fn(...)`` (value and gradient), exactly as it ran."""
        return self._program.emitted.source

    @property
    def arg_names(self) -> tuple[str, ...]:
        """Names of the arguments, in positional order."""
        return tuple(self._program.emitted.param_names)

    @property
    def wrt_names(self) -> tuple[str, ...]:
        return tuple(w.param for w in self.wrt)

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[float, tuple[float, ...]]:
        return self._call(*args, **kwargs)

    @functools.cached_property
    def _forward_program(self) -> _Program:
        with self._forward_lock:
            emitted = emit_function(
                self.name, self.params,
                [Section("", "t", [self.value_expr], ["value"])], "{0}",
                header=lambda names: f"value of {to_text(self.output, limit=60, names=names)}",
            )
            return _run(emitted, self.params, "forward")

    @property
    def forward(self) -> Callable[..., float]:
        """The value alone, no gradient work (generated on first use)."""
        return self._forward_program.function

    @property
    def forward_source(self) -> str:
        return self._forward_program.emitted.source

    def draw(self, **options: Any) -> Any:
        """The value and gradient graphs after rewrites, as ``sg.draw`` draws them."""
        from symgrad.viz import draw

        return draw(self, **options)

    def report(self) -> str:
        """What compiling did, as text: ``print(fn.report())``."""
        return f"{self!r}\n{self.stats}"

    def __repr__(self) -> str:
        return (f"<CompiledFunction {self._program.emitted.function_name}({', '.join(self.arg_names)}) "
                f"gradient wrt ({', '.join(self.wrt_names)}), {self.stats.lines} lines>")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as source: unpickling execs the stored code, nothing is re-derived.
        emitted = self._program.emitted
        line_keys = list(emitted.line_nodes)
        records, roots = serialise_graph([self.output, self.value_expr, *self.grad_exprs, *self.aux_exprs,
                                     *self.wrt, *self.params, *(emitted.line_nodes[k] for k in line_keys)])
        state = {
            "graph": (records, roots), "n_wrt": len(self.wrt), "n_params": len(self.params),
            "n_aux": len(self.aux_exprs),
            "lines": line_keys,
            "source": emitted.source, "function_name": emitted.function_name,
            "param_names": emitted.param_names, "output_names": emitted.output_names,
            "namespace_names": sorted(emitted.namespace_names), "stats": self.stats, "name": self.name,
        }
        return (_restore, (state,))


def _restore(state: dict[str, Any]) -> CompiledFunction:
    records, roots = state["graph"]
    rest = iter(rebuild_graph(records, roots))
    output = next(rest)
    rewritten = [next(rest) for _ in range(1 + state["n_wrt"] + state["n_aux"])]
    wrt = [next(rest) for _ in range(state["n_wrt"])]
    params = [next(rest) for _ in range(state["n_params"])]
    line_nodes = {k: next(rest) for k in state["lines"]}
    emitted = Emitted(state["source"], state["function_name"], state["param_names"],
                      state["output_names"], set(state["namespace_names"]), line_nodes)
    return CompiledFunction(output, rewritten, wrt, params, _run(emitted, params, "restored"), state["stats"],
                            state["name"])


# ---- pipeline -----------------------------------------------------------------------


def _emit_value_and_grad(output: Expr, wrt: list[Expr], params: list[Expr], name: str,
                         annotate: bool, order: list[Expr] | None = None, aux: Sequence[Expr] = ()
                         ) -> tuple[Emitted, CompileStats, list[Expr]]:
    """Rewrite, differentiate (rewriting as it goes) and emit; also return [value, *gradient, *aux]."""
    stats = CompileStats()
    clock = time.perf_counter()
    if order is None:
        order = topological_order([output, *aux])
    rewriter = Rewriter()
    value, *aux = rewriter.graph([output, *aux], order)
    forward_order = topological_order([value, *aux]) if rewriter.changed else order
    stats.seconds["rewrite"] = time.perf_counter() - clock

    clock = time.perf_counter()
    settled = rewriter.settled
    adjoint = adjoints(value, wrt, forward_order, rewrite=rewriter.expr)
    zero = as_expr(0.0)
    grads = [rewriter.expr(adjoint.get(w, zero)) for w in wrt]
    full_order = topological_order([value, *aux, *grads], prefix=forward_order)
    stats.forward_nodes = len(order)
    stats.backward_nodes_before = rewriter.settled - settled
    stats.backward_nodes_after = len(full_order) - len(forward_order)
    stats.rewrites = rewriter.finish(full_order)
    simplified = [value, *grads, *aux]
    stats.seconds["differentiate"] = time.perf_counter() - clock

    clock = time.perf_counter()

    def header(names: dict[Expr, str]) -> str:
        wrt_text = ", ".join(names[w] for w in wrt)
        return f"value and gradient wrt ({wrt_text}) of {to_text(output, limit=60, names=names)}"

    emitted = emit_function(
        f"{name}_and_grad", params,
        [Section("value", "t", [value, *aux], ["value", *(f"aux_{i}" for i in range(len(aux)))]),
         Section("gradient (reverse mode)", "g", grads, [f"d_{w.param}" for w in wrt])],
        _returns(len(aux), len(wrt)),
        annotate=annotate,
        header=header,
        order=full_order,
    )
    stats.lines = emitted.source.count("\n")
    stats.shared_nodes = emitted.shared
    stats.seconds["emit"] = time.perf_counter() - clock
    return emitted, stats, simplified


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


def _returns(n_aux: int, n_wrt: int) -> str:
    """The return expression: ``value, (d_...)`` and, with aux outputs, ``, (aux_...)``."""

    def group(start: int, count: int) -> str:
        inner = ", ".join(f"{{{start + i}}}" for i in range(count))
        return f"({inner}{',' if count == 1 else ''})"

    grads = group(1 + n_aux, n_wrt)
    return f"{{0}}, {grads}, {group(1, n_aux)}" if n_aux else f"{{0}}, {grads}"


class _Cache:
    """A bounded, thread-safe LRU of compiled functions keyed by graph structure."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, CompiledFunction] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> CompiledFunction | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
            return found

    def put(self, key: bytes, fn: CompiledFunction) -> CompiledFunction:
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


def structural_key(roots: Sequence[Expr], *extra: Any, order: list[Expr] | None = None) -> bytes:
    """A digest of the graph under ``roots`` (ops, params, shape) plus ``extra``.

    Constants are compared by type and bit pattern, so 1 and 1.0, 0.0 and
    -0.0, and different NaNs all differ.
    """
    if order is None:
        order = topological_order(roots)
    index = {node: i for i, node in enumerate(order)}
    records = [(n.op.name, n.param, tuple(index[a] for a in n.args)) for n in order]
    payload = (CODEGEN_VERSION, sys.version_info[:2], records, [index[r] for r in roots], extra)
    return hashlib.blake2b(marshal.dumps(payload), digest_size=20).digest()


def _order_params(used: list[Expr], wrt: list[Expr], args: Any) -> list[Expr]:
    if args is not None:
        params = as_symbols(args, "args")
        given = set(params)
        missing = [s.param for s in used if s not in given]
        if missing:
            raise ValueError(f"args leaves out symbols the expression uses: {', '.join(missing)}")
        absent = [w.param for w in wrt if w not in given]
        if absent:
            raise ValueError(f"args must include every wrt symbol; missing: {', '.join(absent)}")
        return params
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
) -> CompiledFunction:
    """Compile ``output`` to a function returning its value and gradient.

    ``wrt``: the symbols (or names) to differentiate by; default, every
    symbol of ``output`` sorted by name. ``args``: the full positional order
    of the arguments (default: ``wrt`` then the other symbols, sorted).
    ``annotate=True`` adds to each generated line a comment with the
    subexpression it computes. ``aux``: more expressions computed in the same
    function (sharing its work), returned as a third item: ``(value, grads, aux)``.
    The result is cached by graph structure.
    """
    output = as_expr(output, "compile() output")
    aux = [as_expr(a, f"aux[{i}]") for i, a in enumerate(aux)]
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    with _no_gc_pauses():
        clock = time.perf_counter()
        order = topological_order([output, *aux])
        used = [n for n in order if n.op is SYMBOL]
        wrt_nodes = as_symbols(sorted(used, key=lambda s: s.param) if wrt is None else wrt)
        params = _order_params(used, wrt_nodes, args)
        key = structural_key([output, *aux], tuple(w.param for w in wrt_nodes), tuple(p.param for p in params),
                             name, annotate, order=order) if cache else b""
        if cache:
            hit = _cache.get(key)
            if hit is not None:
                return hit
        key_seconds = time.perf_counter() - clock

        emitted, stats, simplified = _emit_value_and_grad(output, wrt_nodes, params, name, annotate, order, aux)
        clock = time.perf_counter()
        program = _run(emitted, params, "grad")
        stats.seconds["exec"] = time.perf_counter() - clock
        stats.seconds = {"cache key": key_seconds, **stats.seconds}
        fn = CompiledFunction(output, simplified, wrt_nodes, params, program, stats, name)
    return _cache.put(key, fn) if cache else fn


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

    @property
    def source(self) -> str:
        return self.compiled.source


def jit(fn: Callable[..., Any]) -> Jitted:
    """Decorator: see ``Jitted``."""
    return Jitted(fn)
