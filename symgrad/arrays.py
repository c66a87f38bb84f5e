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
  scalar gradient, a batch input a per-sample one).

NumPy and array-api-compat are imported only when array code runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

REDUCTIONS = (None, "sum", "mean")
# Up to this many elements, stacking the gradients for one sum beats one sum each (call overhead);
# above it, the copy into the stack costs more than the calls save.
_STACK_LIMIT = 4096


def _compat() -> Any:
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "backend='numpy' needs NumPy and array-api-compat: pip install 'symgrad[numpy]'"
        ) from None
    return array_api_compat


def namespace(*args: Any) -> Any:
    """The array namespace of the array arguments (NumPy's when all are Python numbers).

    A library that implements the standard itself (NumPy 2, array-api-strict) is
    used directly; others (PyTorch, CuPy) through array-api-compat's wrappers.
    """
    arrays = [a for a in args if type(a) is not float and type(a) is not int]
    if not arrays:
        import numpy

        arrays = [numpy.empty(0)]
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
    device = next((compat.device(a) for a in args if type(a) is not float and is_array(a)), None)
    # Python numbers (model parameters, say) become one array, indexed: one conversion, not one each.
    numbers = [i for i, a in enumerate(args) if type(a) is float or type(a) is int]
    packed = xp.asarray([float(args[i]) for i in numbers], dtype=xp.float64, device=device) if numbers else None
    out = list(args)
    for k, i in enumerate(numbers):
        out[i] = packed[k, ...]
    for i, a in enumerate(args):
        if type(a) is float or type(a) is int:
            continue
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


def finisher(reduce: str | None) -> Callable[..., Any]:
    """The ``_finish`` helper of a compiled function with reduction ``reduce``."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be None, 'sum' or 'mean', got {reduce!r}")

    def finish(xp: Any, shape: tuple[int, ...] | None, value: Any, grads: Sequence[Any] = (),
               wrt: Sequence[Any] = (), aux: Sequence[Any] = ()) -> Any:
        # A derivative that is a constant (d(w*x + b)/db = 1.0) is a Python float here.
        value, *grads = (a if hasattr(a, "shape") else xp.asarray(a, dtype=xp.float64) for a in (value, *grads))
        aux = [a if hasattr(a, "shape") else xp.asarray(a, dtype=xp.float64) for a in aux]
        full = broadcast_shapes(*([shape] if shape is not None else []), tuple(value.shape),
                                *(tuple(g.shape) for g in grads), *(tuple(a.shape) for a in aux))

        def spread(a: Any) -> Any:
            return a if tuple(a.shape) == full else xp.broadcast_to(a, full)

        extras = (tuple(spread(a) for a in aux),) if aux else ()
        if reduce is None:
            value = spread(value)
            result = (value, tuple(spread(g) for g in grads)) if grads or wrt else value
            return (*result, *extras) if extras else result
        scale = 1.0 if reduce == "sum" else 1.0 / max(1, math.prod(full))
        total = xp.sum(spread(value))
        if reduce == "mean":
            total = total * scale
        if not (grads or wrt):
            return (total, *extras) if extras else total
        if math.prod(full) <= _STACK_LIMIT and all(tuple(w.shape) == () for w in wrt) \
                and all(tuple(g.shape) == full for g in grads):
            # Small batches, scalar parameters (a model's weights): one reduction for all of them.
            sums = xp.sum(xp.stack(grads), axis=tuple(range(1, len(full) + 1))) if grads else xp.zeros(0)
            # NumPy iterates in C (giving float64 scalars); the array API only promises indexing.
            reduced = tuple(sums) if type(sums).__module__ == "numpy" else \
                tuple(sums[k, ...] for k in range(len(grads)))
        else:
            reduced = tuple(_unbroadcast(xp, spread(g), tuple(w.shape)) for g, w in zip(grads, wrt))
        if reduce == "mean":
            reduced = tuple(g * scale for g in reduced)
        return (total, reduced, *extras)

    return finish


def helpers(reduce: str | None) -> dict[str, Any]:
    """The names array code calls, bound in its namespace."""
    return {"_namespace": namespace, "_as_arrays": as_arrays, "_batch_shape": batch_shape,
            "_finish": finisher(reduce)}
