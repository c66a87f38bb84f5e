"""What array code (``sg.compile(..., backend="numpy")``) calls at run time.

The generated function finds the array namespace of its inputs (NumPy,
``array_api_strict``, and through ``array-api-compat`` PyTorch, CuPy...), turns
every input into a float64 array of it, computes the value and gradient
element-wise with broadcasting, and hands them to ``finish``, which
broadcasts them to the batch's shape and applies the reduction:

- ``reduce=None``: per-element values and gradients (the full broadcast shape);
- ``"sum"`` / ``"mean"``: the value summed (averaged) over all elements, and
  the gradient of that reduced value with respect to each argument, summed
  over the axes the argument was broadcast along (so a scalar parameter gets a
  scalar gradient, a batch input a per-sample one; an array parameter's
  gradient has its value's shape: see ``symgrad.shapes``). Here the generated code
  hands over the gradient's factors and which products of them make each
  entry (``make_finish``), so that a small batch's entries are summed at once.

A large NumPy batch (at least two blocks of ``BLOCK_ELEMENTS``) is computed by
``in_blocks``: the same function over blocks of whole rows, on a thread pool
(``set_threads``), put back together in order (so the result does not depend on
the thread count); glibc is asked to keep freed memory (``_keep_freed_memory``,
process-wide; ``set_malloc_tuning(False)`` turns it off) so that blocks reuse their
buffers. NumPy and array-api-compat are imported only when array code runs.
"""

from __future__ import annotations

import contextvars
import math
import operator
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from symgrad.extras import require
from symgrad.settings import Switch
from symgrad.shapes import element_views, gradients, numpy_module

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

REDUCTIONS = (None, "sum", "mean")


def check_reduction(reduce: Any) -> None:
    """Raise ValueError unless ``reduce`` is one of ``REDUCTIONS``."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")


# A large NumPy batch runs in blocks of about this many elements (512 KB per float64 temporary):
# blocks spread over threads, and their temporaries stay in the CPU's cache; smaller blocks lose
# to the Python work per block when two threads share the GIL.
BLOCK_ELEMENTS = 65536
# Up to this many elements, laying the gradient's factors end to end for one multiplication and
# one sum beats a dot product per entry (a call each); above it, the copies cost more than the
# calls save.
_STACK_LIMIT = 256
# Up to this many elements, a reduced entry is one dot product; above it OpenBLAS splits a dot
# product over threads of its own, which fight the blocks'.
_DOT_LIMIT = 8192


def _compat() -> Any:
    return require("array_api_compat", "backend='numpy'")


_PLAIN = frozenset({float, int, list, tuple})


def namespace(*args: Any) -> Any:
    """The array namespace of the array arguments (NumPy's when all are Python numbers).

    A library that implements the standard itself (NumPy 2, array-api-strict) is
    used directly; others (PyTorch, CuPy) through array-api-compat's wrappers.
    """
    # Python numbers and lists (a weight vector given as [0.3, 0.5]) have no namespace of their own.
    arrays = [a for a in args if type(a) not in _PLAIN]
    if not arrays:
        arrays = [numpy_module().empty(0)]
    own = {type(a).__array_namespace__(a) if hasattr(type(a), "__array_namespace__") else None for a in arrays}
    if len(own) == 1 and None not in own:
        found = own.pop()
        if getattr(found, "__name__", "") != "numpy" or hasattr(found, "astype"):  # NumPy >= 2.1
            return found
    compat = _compat()
    return compat.array_namespace(*(a for a in arrays if compat.is_array_api_obj(a)))


def as_arrays(xp: Any, *args: Any) -> tuple[Any, ...]:
    """Each argument as a float64 array of ``xp``, on the device of the first array given."""
    compat = _compat()
    is_array = compat.is_array_api_obj
    numbers: list[int] = []
    others: list[int] = []
    for i, a in enumerate(args):  # one pass: a model's hundreds of parameters are numbers
        (numbers if type(a) is float or type(a) is int else others).append(i)
    device = next((compat.device(args[i]) for i in others if is_array(args[i])), None)
    out = list(args)
    if numbers:
        # Python numbers (model parameters, say) become one array, indexed: one conversion, not one each.
        packed = xp.asarray([float(args[i]) for i in numbers], dtype=xp.float64, device=device)
        # 0-d arrays, not NumPy's float64 scalars (which iterating would give): arithmetic of a
        # 0-d array with an array takes a faster path than a NumPy scalar's.
        for k, i in enumerate(numbers):
            out[i] = packed[k, ...]
    for i in others:
        a = args[i]
        if isinstance(a, (str, bytes, bool)) or a is None:
            raise TypeError(f"array code needs numbers or arrays, got {type(a).__name__} {a!r}")
        if not (is_array(a) and a.dtype == xp.float64):
            out[i] = xp.asarray(a, dtype=xp.float64, device=device)
    return tuple(out)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy's broadcasting rule for shapes, with a clear error naming the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast together")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def batch_shape(xp: Any, *batch: Any) -> tuple[int, ...] | None:
    """The broadcast shape of the batch inputs (None without any)."""
    return broadcast_shapes(*(tuple(a.shape) for a in batch)) if batch else None


def _unbroadcast(xp: Any, g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes an argument of ``shape`` was broadcast along."""
    if tuple(g.shape) == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1)
    total = xp.sum(g, axis=axes) if axes else g
    return xp.reshape(total, shape)


_shape_of = operator.attrgetter("shape")


def _as_arrays_of(xp: Any, values: Sequence[Any]) -> list[Any]:
    # A derivative that is a constant (d(w*x + b)/db = 1.0) is a Python float here. Checking
    # the distinct types first keeps a model's hundreds of gradients out of a Python loop.
    if all(hasattr(kind, "shape") for kind in set(map(type, values))):
        return list(values)
    return [a if hasattr(a, "shape") else xp.asarray(a, dtype=xp.float64) for a in values]


def _shapes(values: Sequence[Any]) -> set[tuple[int, ...]]:
    return {tuple(shape) for shape in set(map(_shape_of, values))}


def _weighted(sums: Iterator[Any], weights: Sequence[float]) -> tuple[Any, ...]:
    return tuple(g if f == 1.0 else -g if f == -1.0 else g * f for g, f in zip(sums, weights))


def make_finish(reduce: str | None, groups: Sequence[tuple[int, ...]] | None = None,
                bare: bool = False) -> Callable[..., Any]:
    """The ``_finish`` helper of a compiled function with reduction ``reduce``.

    With a reduction, the generated code passes the gradient as ``products`` of
    ``factors`` (see ``symgrad.array_code.BatchSums``): entry k is the batch sum of
    ``factors[i] * factors[j]`` for ``(i, j) = products[k]`` (``j = -1``: of
    ``factors[i]`` alone), negated for k in ``negated``; ``_reduced_gradient`` sums them.

    The gradient is worked out per ``wrt`` symbol (an entry of the shape of the value it
    reads), then each array parameter's entries are stacked (``symgrad.shapes.gradients``:
    ``groups`` are the ``wrt`` parameters' shapes, ``bare`` says the gradient is one array).
    """
    check_reduction(reduce)
    positions: list[Any] = []  # the left and the right rows of ``products``, worked out on the first call

    def finish(xp: Any, shape: tuple[int, ...] | None, value: Any, factors: Sequence[Any] = (),
               wrt: Sequence[Any] = (), aux: Sequence[Any] = (), products: Sequence[tuple[int, int]] = (),
               negated: Sequence[int] = ()) -> Any:
        value, *factors = _as_arrays_of(xp, [value, *factors])
        aux = _as_arrays_of(xp, aux)
        full = broadcast_shapes(*([shape] if shape is not None else []), tuple(value.shape), *_shapes(factors),
                                *(tuple(a.shape) for a in aux))

        def spread(a: Any) -> Any:
            return a if tuple(a.shape) == full else xp.broadcast_to(a, full)

        extras = (tuple(spread(a) for a in aux),) if aux else ()
        if reduce is None:  # per sample: ``factors`` are the gradient's entries
            value = spread(value)
            result = (value, gradients(xp, tuple(spread(g) for g in factors), groups, bare)) if factors or wrt \
                else value
            return (*result, *extras) if extras else result
        size = math.prod(full)
        scale = 1.0 if reduce == "sum" else 1.0 / max(1, size)
        total = xp.sum(spread(value))
        if reduce == "mean":
            total = total * scale
        if not wrt:
            return (total, *extras) if extras else total
        reduced = _reduced_gradient(xp, reduce, full, size, scale, value, factors, wrt, products, negated,
                                    positions, spread)
        return (total, gradients(xp, reduced, groups, bare), *extras)

    return finish


def _reduced_gradient(xp: Any, reduce: str, full: tuple[int, ...], size: int, scale: float, value: Any,
                      factors: list[Any], wrt: Sequence[Any], products: Sequence[tuple[int, int]],
                      negated: Sequence[int], positions: list[Any], spread: Callable[[Any], Any]) -> tuple[Any, ...]:
    """The reduced gradient's entries (see ``make_finish``), each times ``scale`` (negated in
    ``negated``), the fastest way for the batch's ``size`` and the parameters' shapes: a tuple,
    or one array of them all (``_stacked_sums``)."""
    weights = [scale] * len(products)
    for k in negated:
        weights[k] = -scale
    scalar_parameters = _shapes(wrt) == {()}
    if full and size <= _STACK_LIMIT and scalar_parameters:
        return _stacked_sums(xp, reduce, full, size, value, factors, products, negated, weights, positions, spread)
    if scalar_parameters and size <= _DOT_LIMIT:
        # Each entry's sum is a dot product (BLAS, for NumPy): no product array is made.
        flat = [xp.reshape(spread(f), (-1,)) for f in factors]
        ones = xp.ones(flat[0].shape, dtype=xp.float64, device=_compat().device(value)) \
            if any(j < 0 for _, j in products) else None
        return _weighted((flat[i] @ (ones if j < 0 else flat[j]) for i, j in products), weights)
    # Each entry formed, and summed over the axes its parameter was broadcast along.
    entries = (factors[i] if j < 0 else factors[i] * factors[j] for i, j in products)
    return _weighted((_unbroadcast(xp, spread(g), tuple(w.shape)) for g, w in zip(entries, wrt)), weights)


def _stacked_sums(xp: Any, reduce: str, full: tuple[int, ...], size: int, value: Any, factors: list[Any],
                  products: Sequence[tuple[int, int]], negated: Sequence[int], weights: list[float],
                  positions: list[Any], spread: Callable[[Any], Any]) -> tuple[Any, ...]:
    """Small batches, scalar parameters (a model's weights): the factors laid end to end
    as rows (one copy, in C), every entry's two rows gathered and multiplied, and all
    entries summed at once: a few calls instead of a multiplication and a sum per entry.
    The entries come back as one array (an array parameter's gradient is a slice of it)."""
    if not positions:  # one slice assignment: threads calling first at once write the same two rows
        positions[:] = zip(*((i, len(factors) if j < 0 else j) for i, j in products))
    if len(products) * size >= _MAPPED_ELEMENTS:
        _keep_freed_memory()  # else the gathered rows are mapped afresh, and faulted in, every call
    device = _compat().device(value)
    rows = xp.reshape(xp.concat([*map(spread, factors), xp.ones(full, dtype=xp.float64, device=device)],
                                axis=0), (len(factors) + 1, -1))
    left, right = (xp.take(rows, xp.asarray(p, device=device), axis=0) for p in positions)
    sums = xp.sum(left * right, axis=1)
    if reduce == "mean" or negated:
        sums = sums * xp.asarray(weights, dtype=xp.float64, device=device)
    entries: tuple[Any, ...] = sums
    return entries


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


_threads = _available_cpus()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, threads, executor)
_pool_lock = threading.Lock()


def set_threads(count: int | None = None) -> int:
    """How many threads compute the blocks of a large NumPy batch (NumPy releases the GIL
    in its loops); None: one per available CPU. Returns the previous count.

        >>> import symgrad as sg
        >>> previous = sg.set_threads(1)  # one thread: blocks in order, in the caller's thread
        >>> _ = sg.set_threads(previous)
    """
    global _threads
    if count is None:
        count = _available_cpus()
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"threads must be a positive integer or None, got {count!r}")
    previous, _threads = _threads, count
    return previous


def _executor() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    global _pool
    with _pool_lock:
        # A forked child inherits the executor but not its threads: it makes its own.
        if _pool is None or _pool[:2] != (os.getpid(), _threads):
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)  # the count changed: its idle threads end
            _pool = (os.getpid(), _threads, ThreadPoolExecutor(_threads, thread_name_prefix="symgrad-blocks"))
        return _pool[2]


# glibc's mallopt parameters (malloc.h) and the values the first large NumPy batch sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_THRESHOLD, _MMAP_THRESHOLD = 64 << 20, 32 << 20
_MAPPED_ELEMENTS = (128 << 10) // 8  # float64 arrays this large are mapped afresh by default
_allocator_tuned = False
_malloc_tuning = Switch("set_malloc_tuning")  # whether ``_keep_freed_memory`` may call mallopt


def set_malloc_tuning(enabled: bool = True) -> bool:
    """Whether the first large NumPy batch may tune glibc's malloc (default: True); returns
    the previous setting.

    Tuning calls ``mallopt`` once per process, setting ``M_MMAP_THRESHOLD`` to 32 MB and
    ``M_TRIM_THRESHOLD`` to 64 MB (see ``_keep_freed_memory``): process-wide, for the rest
    of the process, for every allocation of the host too. ``set_malloc_tuning(False)``
    before that batch leaves malloc alone (as setting ``MALLOC_TRIM_THRESHOLD_`` or
    ``MALLOC_MMAP_THRESHOLD_`` does); settings already made are not undone.

        >>> import symgrad as sg
        >>> previous = sg.set_malloc_tuning(False)  # array code never calls mallopt
        >>> _ = sg.set_malloc_tuning(previous)
    """
    return _malloc_tuning.set(enabled)


def _keep_freed_memory() -> None:
    """Once per process: let glibc's malloc keep up to 64 MB of freed memory, as
    ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` would.

    By default glibc maps every array over 128 KB afresh, and later hands the free top
    of its heap back to the OS past about twice the largest array freed so far. A
    block's temporaries (some thirty of 512 KB) pass that at the end of every block, so
    the next block page-faults them all in again (README, "Freed memory kept", has the
    figures).
    Called for NumPy batches of 128 KB arrays and up, and by ``finish`` when the rows it
    gathers are as large; nothing happens after ``set_malloc_tuning(False)``, where the
    user set either variable, or without glibc. The settings are process-wide and stay.
    """
    global _allocator_tuned
    if _allocator_tuned or not _malloc_tuning:
        return
    _allocator_tuned = True
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a static or unusual libc
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def _map_blocks(compute: Callable[[int, int], Any], bounds: list[tuple[int, int]]) -> Iterator[Any]:
    """``compute(start, stop)`` for each block, in order; on the thread pool when it has more
    than one thread. Each block runs in a copy of the caller's context, so NumPy's
    ``errstate`` (a context variable) holds in the workers as it does in the caller."""
    if _threads == 1:
        return (compute(start, stop) for start, stop in bounds)
    pool = _executor()
    futures = [pool.submit(contextvars.copy_context().run, compute, start, stop) for start, stop in bounds]
    return (future.result() for future in futures)


def _even_bounds(n: int, rows: int) -> list[tuple[int, int]]:
    """Evenly sized blocks of at most ``rows`` of ``n``: 10**6 samples are 16 blocks of 62,500,
    not 15 of 65,536 and one of 16,960 that leaves a thread idle for most of the last round.
    They depend on the batch alone, so the results do not depend on the thread count."""
    count = -(-n // rows)
    return [(n * k // count, n * (k + 1) // count) for k in range(count)]


def _leaves(part: Any, has_gradient: bool, bare: bool) -> list[Any]:
    """A block's result as one list: value, gradient entries, aux."""
    value, grads, aux = (part[0], (part[1],) if bare else part[1], part[2] if len(part) > 2 else ()) \
        if has_gradient else (part[0], (), part[1]) if isinstance(part, tuple) else (part, (), ())
    return [value, *grads, *aux]


def make_in_blocks(reduce: str | None, wrt: Sequence[int] | None, trailing: Sequence[tuple[int, ...]] | None = None,
                   bare: bool = False) -> Callable[..., Any]:
    """The ``_in_blocks`` helper of a compiled function: ``wrt`` holds the argument positions
    of its gradient's entries (None for a function returning the value alone), ``trailing``
    each argument's shape where one is an array (the trailing dims of its value: the batch
    is cut along its leading ones), ``bare`` whether the gradient is one array alone."""
    has_gradient, n_grads = bool(wrt), len(wrt or ())

    def in_blocks(function: Callable[..., Any], xp: Any, shape: tuple[int, ...] | None,
                  args: Sequence[Any]) -> Any:
        """``function(*args)`` computed over blocks of rows of the batch and put together again;
        None (compute it whole) unless the namespace is NumPy's and the batch is large enough."""
        if not shape or getattr(xp, "__name__", "") != "numpy":
            return None
        if math.prod(shape) >= _MAPPED_ELEMENTS:
            _keep_freed_memory()
        n, rows = shape[0], max(1, BLOCK_ELEMENTS // max(1, math.prod(shape[1:])))
        if n < 2 * rows:
            return None  # one block would do
        # Each argument's leading dims, the ones it is batched or broadcast along.
        leads = [tuple(a.shape) for a in args] if trailing is None else \
            [tuple(a.shape)[:a.ndim - len(t)] for a, t in zip(args, trailing)]
        try:
            if broadcast_shapes(*leads) != tuple(shape):
                return None  # an argument reaches beyond the batch
        except ValueError:
            return None  # computed whole, the error names the subexpression
        sliced = [len(lead) == len(shape) and lead[0] == n for lead in leads]
        # Per output: stack the blocks' rows (per-sample outputs, aux, the gradient of a sliced
        # input), or add them up (reduced ones); a mean's blocks count by their share of rows.
        join = [reduce is None, *(reduce is None or sliced[p] for p in wrt or ())]
        weigh = [reduce == "mean"] * len(join)
        outputs: list[Any] = []

        def compute(start: int, stop: int) -> Any:
            return function(*(a[start:stop] if cut else a for a, cut in zip(args, sliced)))

        bounds = _even_bounds(n, rows)
        for (start, stop), part in zip(bounds, _map_blocks(compute, bounds)):
            leaves = _leaves(part, has_gradient, bare)
            if not outputs:
                join += [True] * (len(leaves) - len(join))  # aux: per sample, never reduced
                weigh += [False] * (len(leaves) - len(weigh))
                outputs = [xp.empty((n, *leaf.shape[1:]), dtype=leaf.dtype) if stack else 0.0
                           for leaf, stack in zip(leaves, join)]
            share = (stop - start) / n
            for i, leaf in enumerate(leaves):
                if weigh[i]:
                    leaf = leaf * share
                if join[i]:
                    outputs[i][start:stop] = leaf
                else:
                    outputs[i] = outputs[i] + leaf
        value, grads, aux = outputs[0], tuple(outputs[1:1 + n_grads]), tuple(outputs[1 + n_grads:])
        if bare:
            grads = grads[0]
        if has_gradient:
            return (value, grads, aux) if aux else (value, grads)
        return (value, aux) if aux else value

    return in_blocks


def helpers(reduce: str | None, wrt: Sequence[int] | None = None, trailing: Sequence[tuple[int, ...]] | None = None,
            groups: Sequence[tuple[int, ...]] | None = None, bare: bool = False) -> dict[str, Any]:
    """The names array code calls, bound in its namespace (``symgrad.array_code.array_helper_spec``
    says what the arguments are); with array parameters, ``_elements`` gives their elements as views."""
    found = {"_namespace": namespace, "_as_arrays": as_arrays, "_batch_shape": batch_shape,
             "_finish": make_finish(reduce, groups, bare), "_in_blocks": make_in_blocks(reduce, wrt, trailing, bare)}
    if trailing is not None:
        found["_elements"] = element_views
    return found
