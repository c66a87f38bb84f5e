"""Compile: differentiate, rewrite, emit, ``exec`` and cache — one call.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> fn = sg.compile(x * y + sg.exp(x), wrt=[x, y])
    >>> fn(0.0, 2.0)
    (1.0, (3.0, 0.0))
    >>> fn.forward(0.0, 2.0)
    1.0

``symgrad.pipeline`` derives and generates the source, ``symgrad.runtime`` runs it
(and explains its errors); this module holds ``compile`` itself, the function it
returns, its pickling, and the cache: compiled functions are cached by the
structure of the graph (LRU, see ``set_cache_size``; the key: ``symgrad.cachekey``)
and pickle as graph and source (their stored fields are checked by ``symgrad.pickling``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from symgrad import arrays, diskcache, display, loop_code, progress, shapes, vectorise
from symgrad.array_code import array_helper_spec, array_returns
from symgrad.backends import ARRAY, BACKENDS
from symgrad.cachekey import cache_key
from symgrad.codegen import emit_function
from symgrad.errors import SymgradError
from symgrad.expr import Expr, as_expr, rebuild_graph, serialise_graph, symbol, to_text, topological_order
from symgrad.lru import LRUCache, memoised
from symgrad.pickling import check_compiled_state, stored_parameters
from symgrad.pipeline import (
    STRATEGIES,
    CompileStats,
    Derived,
    LazyDerived,
    Options,
    generate,
    values_text,
)
from symgrad.reverse_groups import code_and_derived, derive_later, per_group
from symgrad.runtime import Program, needs_fallback, run
from symgrad.sections import Section
from symgrad.settings import no_gc_pauses
from symgrad.shapes import Parameter
from symgrad.simplify import REWRITES

# Bumped whenever the emitter writes other source for the same graph: a pickle says which it was made by.
CODEGEN_VERSION = 13


def _view(read: Callable[[Derived], Any]) -> Any:
    """An attribute of a compiled function: ``read`` of its derived expressions, once."""
    return functools.cached_property(lambda fn: read(fn._derived))


class CompiledFunction(functools.partial):  # type: ignore[type-arg]
    """Value and derivatives of an expression (or of several), as generated Python.

    ``fn(*args)`` returns ``(value, (d_w1, d_w2, ...))``; with ``order=2``
    also the Hessian, ``(value, gradient, hessian)``; for a list of outputs
    ``((value_0, ...), jacobian)`` with one gradient row per output. ``aux``
    values come last. ``fn.forward(*args)`` returns the value(s) alone.
    Arguments are positional or by keyword, named by ``fn.arg_names``: the
    ``wrt`` symbols first, then any other symbols of the expression, sorted by name.

    It is a ``functools.partial`` of the generated function with no bound
    arguments: calling it dispatches in C, with no ``__call__`` method
    forwarding ``*args`` in between.
    """

    def __new__(cls, outputs: list[Expr], derived: Derived, wrt: list[Parameter], params: list[Parameter],
                program: Program, *rest: Any) -> CompiledFunction:
        return super().__new__(cls, program.function)

    def __init__(self, outputs: list[Expr], derived: Derived, wrt: list[Parameter], params: list[Parameter],
                 program: Program, stats: CompileStats, options: Options) -> None:
        self.outputs = tuple(outputs)
        self.name, self.annotate = options.name, options.annotate
        self._options = options
        self.backend, self.batch, self.reduce = options.backend, tuple(options.batch), options.reduce
        self.order = derived.order
        self.wrt_parameters = tuple(wrt)  # arrays of symbols as one parameter each
        self.parameters = tuple(params)
        self.wrt = tuple(shapes.flat(wrt))  # the symbols, arrays' elements one by one
        self.params = tuple(shapes.flat(params))
        self._derived = derived
        self._program = program
        self._call = program.function
        self.stats = stats
        self._forward_lock = threading.Lock()

    # The derived expressions, read from ``_derived`` when first asked for (a function restored from
    # the disk cache rebuilds its derived graph only then; one whose reverse pass was written per
    # group derives it then: ``pipeline.LazyDerived``).
    value_exprs: tuple[Expr, ...] = _view(lambda d: tuple(d.values))
    value_expr: Expr = _view(lambda d: d.values[0])
    jacobian_exprs: tuple[tuple[Expr, ...], ...] = _view(lambda d: tuple(map(tuple, d.jacobian)))
    grad_exprs: tuple[Expr, ...] = _view(lambda d: tuple(d.jacobian[0]))
    hessian_exprs: tuple[tuple[Expr, ...], ...] | None = _view(
        lambda d: None if d.hessian is None else tuple(map(tuple, d.hessian)))
    aux_exprs: tuple[Expr, ...] = _view(lambda d: tuple(d.aux))

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
        return tuple(w.name for w in self.wrt_parameters)

    @property
    def several(self) -> bool:
        """Whether the outputs were given as a list or an array (values and a Jacobian)."""
        return self._options.several

    @functools.cached_property
    def _forward_program(self) -> Program:
        with self._forward_lock:
            shown = "; ".join(to_text(o, limit=60) for o in self.outputs)
            # Rolled into a loop where its gradient was (looked for only then: finding costs a walk).
            rolled = loop_code.rolled_value(self.outputs[0], self.parameters, self._options) \
                if "loop" in (self._program.helper_spec or {}) else None
            if rolled is not None:  # rolled into a loop as its gradient is
                emitted, spec = rolled
                spec["fallback"] = lambda: self._straight_forward(shown).function
                return run(emitted, self.params, "forward", spec)
            if self.backend != ARRAY.name and self._options.strategy != "straight":  # vectorised as its gradient is
                values = list(self.value_exprs)
                strategy = "auto" if self._options.strategy == "loop" else self._options.strategy
                found, _ = vectorise.choose(topological_order(values), self.parameters, values, strategy)
                if found is not None:
                    emitted, arrays = vectorise.emit_vectorised(
                        self.name, found, self.parameters, lambda writer: self._vectorised_values(found, writer),
                        f"value of {shown}")
                    spec = {"vectorised": arrays, "fallback": lambda: self._straight_forward(shown).function}
                    return run(emitted, self.params, "forward", spec)
            return self._straight_forward(shown)

    def _vectorised_values(self, found: vectorise.Plan, writer: Any) -> str:
        return values_text([found.slots[v] for v in self.value_exprs], self._options, vectorise.scalar_text,
                           lambda slots, shape: vectorise.packed(writer, slots, shape))

    def _straight_forward(self, shown: str) -> Program:
        options = self._options
        names = [f"value_{i}" for i in range(len(self.value_exprs))] if options.several else ["value"]
        returns = values_text([f"{{{i}}}" for i in range(len(names))], options)
        array_code = self.backend == ARRAY.name
        if array_code:
            returns = array_returns(0, [], gradient=False)
        emitted = emit_function(
            self.name, self.params, [Section("", "t", list(self.value_exprs), names)], returns,
            header=lambda _names: f"value of {shown}", backend=BACKENDS[self.backend], batch=self.batch,
            signature=self.parameters if any(p.is_array for p in self.parameters) else None,
        )
        spec = {"arrays": array_helper_spec(self.reduce, None, self.parameters)} if array_code else None
        return run(emitted, self.params, "forward", spec)

    @property
    def forward(self) -> Callable[..., Any]:
        """The value alone (a tuple of them for several outputs), no derivative work."""
        return self._forward_program.function

    @property
    def forward_source(self) -> str:
        return self._forward_program.emitted.source

    # draw(**options), the value and gradient graphs after rewrites as ``sg.draw`` draws them, is
    # given by symgrad.viz: drawing depends on compiled functions, never the other way round.
    if TYPE_CHECKING:
        def draw(self, **options: Any) -> Any: ...

        # What calling it gives (functools.partial's call, in C): a tuple, (value, gradient) and
        # the Hessian, the aux values... as compile's options say.
        def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]: ...

    def report(self) -> str:
        """What compiling did, as text: ``print(fn.report())``."""
        return f"{self!r}\n{self.stats}"

    def _repr_html_(self) -> str:
        """What a notebook shows: the signature, the generated source, and the stats."""
        return display.source_html(repr(self), self.source, str(self.stats))

    def __repr__(self) -> str:
        what = {1: "gradient", 2: "gradient and hessian"}[self.order]
        if self.several:
            what = f"jacobian of {len(self.outputs)} outputs"
        return (f"<CompiledFunction {self._program.emitted.function_name}({', '.join(self.arg_names)}) "
                f"{what} wrt ({', '.join(self.wrt_names)}), {self.stats.lines} lines>")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its graph and its source. Unpickling generates the source again from the
        # graph and refuses a stored source that differs: only code symgrad's emitter wrote runs.
        # A derived graph the code did without and nothing has asked for yet is not made for it.
        derived = self._derived.flat() if self._derived.made else []
        with no_gc_pauses():
            records, roots = serialise_graph([*self.outputs, *derived, *self.wrt, *self.params])
        state = {
            "graph": (records, roots), "n_outputs": len(self.outputs), "n_derived": len(derived),
            "n_wrt": len(self.wrt), "n_params": len(self.params), "order": self.order,
            "outputs": self._options.outputs, "output_shape": list(self._options.output_shape),
            "bare_gradient": self._options.bare_gradient, "strategy": self._options.strategy,
            "rewrites": self._options.rewrites,
            "wrt_shapes": [(p.name, list(p.shape)) for p in self.wrt_parameters],
            "param_shapes": [(p.name, list(p.shape)) for p in self.parameters],
            "backend": self.backend, "batch": [b.param for b in self.batch], "reduce": self.reduce,
            "annotate": self.annotate, "name": self.name, "source": self.source, "stats": self.stats,
            "codegen_version": CODEGEN_VERSION,
        }
        return (_restore, (state,))


def _restore(state: dict[str, Any]) -> CompiledFunction:
    check_compiled_state(state)
    with no_gc_pauses():
        try:
            return _restore_checked(state)
        except SymgradError:
            raise
        except (StopIteration, LookupError, TypeError, ValueError) as error:
            raise SymgradError(f"refusing to load a compiled function: its stored graph does not fit its "
                               f"stored counts ({type(error).__name__}: {error})") from None


def _restore_checked(state: dict[str, Any]) -> CompiledFunction:
    records, roots = state["graph"]
    rest = iter(rebuild_graph(records, roots))

    def take(count: int) -> list[Expr]:
        return [next(rest) for _ in range(count)]

    outputs = take(state["n_outputs"])
    stored = take(state["n_derived"])
    wrt = stored_parameters(take(state["n_wrt"]), state["wrt_shapes"])
    params = stored_parameters(take(state["n_params"]), state["param_shapes"])
    batch = [symbol(b) for b in state["batch"]]
    options = Options(state["name"], state["annotate"], state["outputs"], state["backend"], batch, state["reduce"],
                      tuple(state["output_shape"]), state["bare_gradient"], state["strategy"],
                      state.get("rewrites", "all"))  # checked; absent from pickles made before the option
    if stored:
        derived = Derived.unflatten(stored, len(outputs), state["n_wrt"], state["order"] == 2)
        emitted, helper_spec = _generated(outputs, derived, wrt, params, options, CompileStats())
    else:  # written as compiling writes it, its derived graph made when first read
        found, derived = _code_and_derived(outputs, [], wrt, params, options, state["order"],
                                           topological_order(outputs), CompileStats())
        emitted, helper_spec = _with_fallback(found, outputs, derived, wrt, params, options)
    if emitted.source != state["source"]:
        raise SymgradError(
            "refusing to load a compiled function: its stored source is not what symgrad generates from its "
            "stored graph (the data was altered, or it was pickled by another symgrad version "
            f"(codegen {state.get('codegen_version')}, this one {CODEGEN_VERSION}) or with other primitives "
            "registered). Unpickle only data you trust: like any pickle, it can run code."
        )
    program = run(emitted, shapes.flat(params), "restored", helper_spec)
    return CompiledFunction(outputs, derived, wrt, params, program, state["stats"], options)


_cache: LRUCache[CompiledFunction] = LRUCache()
hvp_cache: LRUCache[Any] = LRUCache()  # symgrad.hvp's; here so that clear_cache forgets both


def clear_cache() -> None:
    """Forget every compiled function."""
    _cache.clear()
    hvp_cache.clear()


def set_cache_size(size: int) -> None:
    """Keep at most ``size`` compiled functions (least recently used go first)."""
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"cache size must be a non-negative int, got {size!r}")
    _cache.resize(size)


def cache_info() -> dict[str, int]:
    """``hits``, ``misses``, ``size`` (entries held) and ``limit``."""
    return {**_cache.stats, "size": len(_cache), "limit": _cache.size}


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
    strategy: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    rewrites: str = "all",
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
    ``batch`` names the inputs that carry samples (symbols, arrays of symbols,
    or their names: see ``symgrad.shapes`` for array parameters there),
    ``reduce`` is None (per-sample values and gradients), ``"sum"`` or ``"mean"``.

    ``strategy``: ``"straight"`` writes a line per shared node; ``"vectorised"`` one NumPy
    operation per group of nodes that compute the same op over arguments of the same kind
    (``symgrad.vectorise``); ``"loop"`` writes a step the graph repeats once, in a loop
    (``symgrad.loops``); ``"auto"`` picks from the graph's shape (``fn.stats`` says which
    and why).

    ``cache_dir`` (default: the environment variable ``SYMGRAD_CACHE_DIR``, if set): a directory
    of your own where compiled functions are kept for later processes (``symgrad.diskcache``).

    ``rewrites="exact"`` applies only the rewrites that keep every float bit for bit (no like
    terms collected, no constants gathered, no ``0*x → 0``): the value is computed as the
    expression is written, up to the order of a commutative op's arguments.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> sg.compile(x**2 * y, wrt=[x, y], order=2)(1.0, 3.0)
        (3.0, (6.0, 1.0), ((6.0, 2.0), (2.0, 0.0)))
    """
    form, output_shape, outputs = _outputs(output)
    several = form != "one"
    if not outputs:
        raise ValueError("compile() needs at least one output expression")
    aux = [as_expr(a, f"aux[{i}]") for i, a in enumerate(aux)]
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"order must be 1 (gradient) or 2 (gradient and hessian), got {order!r}")
    if order == 2 and several:
        raise ValueError("order=2 (the hessian) needs a single output; compile each output separately")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'python' or 'numpy', got {backend!r}")
    array_code = backend == ARRAY.name
    if not array_code and (batch is not None or reduce is not None):
        raise ValueError("batch= and reduce= are options of backend='numpy'")
    if array_code and (order == 2 or several):
        raise ValueError("backend='numpy' compiles one output's value and gradient (no order=2, no list)")
    arrays.check_reduction(reduce)
    key = cache_key([*outputs, *aux], (wrt, args, batch), output_shape, form, len(aux), order, name, annotate,
                    backend, reduce, strategy, rewrites) if cache else None
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    if rewrites not in REWRITES:
        raise ValueError(f"rewrites must be one of {', '.join(map(repr, REWRITES))}, got {rewrites!r}")
    settings = (name, annotate, form, output_shape, backend, reduce, strategy, rewrites)
    make = functools.partial(_compile_new, outputs, aux, wrt, args, batch, order, settings)
    disk = diskcache.level(cache_dir, f"codegen {CODEGEN_VERSION}", CompiledFunction, _straight_function) \
        if key is not None else None
    if disk is None or key is None:  # (no key, no disk level)
        return memoised(_cache, key, make)
    # In memory, per directory: a function found there came through the directory (read or written);
    # on a miss the directory is the slower level of the same lookup.
    return memoised(_cache, (key, disk.directory), functools.partial(disk.through, key, make))


def _generated(outputs: list[Expr], derived: Derived, wrt: list[Parameter], params: list[Parameter],
               options: Options, stats: CompileStats) -> tuple[Any, dict[str, Any]]:
    """The code of a derived graph: ``per_group``'s where it applies, else ``generate``'s."""
    found = loop_code.rolled(outputs, wrt, params, options, derived.order, bool(derived.aux),
                             topological_order(outputs), stats)
    if found is None:
        found = per_group(outputs, derived, wrt, params, options, None, stats)
    if found is None:
        found = generate(outputs, derived, wrt, params, options, derived.full_order(), stats)
    return _with_fallback(found, outputs, derived, wrt, params, options)


def _with_fallback(generated: tuple[Any, dict[str, Any]], outputs: list[Expr], derived: Derived,
                   wrt: list[Parameter], params: list[Parameter], options: Options) -> tuple[Any, dict[str, Any]]:
    """``generated``, and for vectorised code how to make its straight-line fallback when first needed
    (from the scalar derived graph, derived then if it was not before)."""
    emitted, helper_spec = generated
    if needs_fallback(helper_spec):
        helper_spec["fallback"] = lambda: _straight_function(outputs, derived, wrt, params, options,
                                                             derived.full_order())
    return emitted, helper_spec


def _straight_function(outputs: list[Expr], derived: Derived, wrt: list[Parameter], params: list[Parameter],
                       options: Options, full_order: list[Expr]) -> Callable[..., Any]:
    """The straight-line function of a vectorised one's graph: what it falls back on."""
    with no_gc_pauses():
        straight = dataclasses.replace(options, strategy="straight")
        found = generate(outputs, derived, wrt, params, straight, full_order, CompileStats())
        return run(*found[:1], shapes.flat(params), "straight", found[1]).function


def _outputs(output: Any) -> tuple[str, tuple[int, ...], list[Expr]]:
    """How the outputs were given ("one", a "list", an "array"), the array's shape, and the outputs."""
    if shapes.is_array(output):
        return "array", tuple(output.shape), [as_expr(o, f"compile() output {i}") for i, o in enumerate(output.flat)]
    if isinstance(output, (list, tuple)):
        for i, o in enumerate(output):
            if shapes.is_array(o):
                raise TypeError(f"compile() output {i} is an array: pass one array of outputs "
                                "(numpy.stack or numpy.concatenate them), not a list of arrays")
        return "list", (), [as_expr(o, f"compile() output {i}") for i, o in enumerate(output)]
    return "one", (), [as_expr(output, "compile() output")]


def _code_and_derived(outputs: list[Expr], aux: list[Expr], wrt: list[Parameter], params: list[Parameter],
                      options: Options, order: int, graph_order: list[Expr], stats: CompileStats
                      ) -> tuple[tuple[Any, dict[str, Any]], Derived]:
    """The code and the derived graph of a function compiled from its outputs: rolled into a loop
    (``symgrad.loop_code``), or as ``code_and_derived`` writes it; a derived graph the code did
    without is made when first read."""
    found = loop_code.rolled(outputs, wrt, params, options, order, bool(aux), graph_order, stats)
    if found is None:
        return code_and_derived(outputs, aux, shapes.flat(wrt), wrt, params, options, order, graph_order, stats)
    return found, LazyDerived(functools.partial(derive_later, outputs, aux, shapes.flat(wrt), options.rewrites, stats),
                              order, aux=aux)


def _compile_new(outputs: list[Expr], aux: list[Expr], wrt: Any, args: Any, batch: Any, order: int,
                 settings: tuple[str, bool, str, tuple[int, ...], str, str | None, str, str]) -> CompiledFunction:
    with no_gc_pauses(), progress.tracking(f"compile {settings[0]}"):
        clock = time.perf_counter()
        graph_order, wrt_params, params = shapes.signature([*outputs, *aux], wrt, args)
        name, annotate, form, output_shape, backend, reduce, strategy, rewrites = settings
        bare = len(wrt_params) == 1 and wrt_params[0].is_array and not isinstance(wrt, (list, tuple))
        batch_symbols = shapes.batch_symbols(batch, params)
        options = Options(name, annotate, form, backend, batch_symbols, reduce, output_shape, bare, strategy, rewrites)
        stats = CompileStats()
        stats.seconds["signature"] = time.perf_counter() - clock
        progress.step("signature", f"{len(graph_order):,} nodes")
        found, derived = _code_and_derived(outputs, aux, wrt_params, params, options, order, graph_order, stats)
        emitted, helper_spec = _with_fallback(found, outputs, derived, wrt_params, params, options)
        clock = time.perf_counter()
        program = run(emitted, shapes.flat(params), "grad", helper_spec)
        stats.seconds["exec"] = time.perf_counter() - clock
        progress.step("exec (CPython's compile)")
        return CompiledFunction(outputs, derived, wrt_params, params, program, stats, options)
