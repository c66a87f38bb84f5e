"""Arrays of symbols: vector and matrix parameters.

The graph stays scalar: ``sg.vector("x", 3)`` is a NumPy object array of the symbols ``x[0]``,
``x[1]``, ``x[2]``, so NumPy's own machinery gives ``@``, ``.sum()``, slicing and broadcasting,
and everything downstream (rewrites, verify, drawing, pickling) sees scalar nodes. At the
interface an array of symbols is one ``Parameter``: one argument of a compiled function,
unpacked into its elements on entry (``elements``), its gradient packed back into a float64
array of its shape on return (``packed``).

    >>> import symgrad as sg
    >>> x = sg.vector("x", 3)
    >>> x
    array([x[0], x[1], x[2]], dtype=object)
    >>> fn = sg.compile((x * x).sum(), wrt=x)
    >>> fn([1.0, 2.0, 3.0])
    (14.0, array([2., 4., 6.]))

In array code (``backend="numpy"``) an array parameter of shape S takes a value of shape
B + S, B being any leading dims (a batch of samples, candidates, or none): element ``[i, j]``
reads the view ``value[..., i, j]`` (``element_views``), and trailing dims other than S are an
error naming the parameter. A batch parameter (``batch=[x]``, or its name) gives B to the
batch's shape: a data matrix of shape (N, 2) for ``sg.vector("u", 2)`` is N samples. Each
array parameter's gradient comes back as one array (``gradients``): with ``reduce=None`` of the
batch's shape broadcast with B, then S; with ``"sum"`` / ``"mean"`` of its value's shape B + S
(a weight vector with B = () gets a gradient of shape S).

    >>> import numpy as np
    >>> u = sg.vector("u", 2)
    >>> fit = sg.compile((x[:2] * u).sum(), wrt=x, args=[x, u], backend="numpy", batch=[u], reduce="sum")
    >>> fit([1.0, 2.0, 0.0], np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    (np.float64(6.0), array([2., 2., 0.]))
"""

from __future__ import annotations

import math
import re
import reprlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from symgrad.expr import Expr, split_names, symbol, topological_order
from symgrad.expr import is_array as is_array  # re-exported: the compiler and tracing read it here
from symgrad.extras import require
from symgrad.grad import as_symbols
from symgrad.ops import SYMBOL
from symgrad.sections import tuple_text

if TYPE_CHECKING:  # NumPy is imported when arrays are first used; its types are for type checkers
    import numpy
    from numpy.typing import NDArray

    SymbolArray = NDArray[numpy.object_]

# An element's name: its array's name and its index, as NumPy prints an index: "x[0]", "W[1, 0]".
_ELEMENT = re.compile(r"(?P<base>.+)\[(?P<index>\d+(?:, \d+)*)\]", re.DOTALL)


def numpy_module() -> Any:
    """NumPy, which arrays of symbols need (an optional dependency: scalar code never imports it)."""
    found = sys.modules.get("numpy")  # imported already: require() would cost ~7 µs, every training step
    return found if found is not None else require("numpy", "arrays of symbols")  # imported when first needed


def element_name(name: str, index: Sequence[int]) -> str:
    """The name of the element at ``index`` of the array of symbols called ``name``."""
    return f"{name}[{', '.join(map(str, index))}]"


def _as_shape(shape: Any) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int) else shape
    if not isinstance(dims, tuple | list) or not all(type(d) is int and d >= 1 for d in dims):
        raise ValueError(f"a shape must be a positive int or a tuple of them, got {reprlib.repr(shape)}")
    return tuple(dims)


def shaped_symbols(name: str, shape: int | Sequence[int]) -> SymbolArray:
    """A NumPy object array of the given shape whose elements are the symbols ``name[i, ...]``."""
    if type(name) is not str or not name:
        raise TypeError(f"an array of symbols needs a non-empty str name, got {reprlib.repr(name)}")
    numpy = numpy_module()
    dims = _as_shape(shape)
    found: SymbolArray = numpy.empty(dims, dtype=object)
    for index in numpy.ndindex(*dims):
        found[index] = symbol(element_name(name, index))
    return found


def symbols(names: str, *, shape: int | Sequence[int] | None = None) -> Any:
    """Symbols from names separated by spaces or commas, with SymPy's ranges (``x0:3``, ``a:c``):
    one Expr, or a tuple of them; with ``shape``, an array of symbols per name instead.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.symbols("a0:3")
    (a0, a1, a2)
    >>> sg.symbols("w", shape=2)
    array([w[0], w[1]], dtype=object)
    """
    found = tuple(symbol(n) if shape is None else shaped_symbols(n, shape) for n in split_names(names, "symbols()"))
    return found[0] if len(found) == 1 else found


def vector(name: str, n: int) -> SymbolArray:
    """A vector of ``n`` symbols ``name[0]`` ... ``name[n-1]`` (a NumPy object array).

        >>> import symgrad as sg
        >>> sg.vector("b", 2)
        array([b[0], b[1]], dtype=object)
    """
    return shaped_symbols(name, (n,))


def matrix(name: str, rows: int, columns: int) -> SymbolArray:
    """A ``rows`` × ``columns`` matrix of symbols ``name[i, j]`` (a NumPy object array).

        >>> import symgrad as sg
        >>> sg.matrix("W", 2, 2)[1, 0]
        W[1, 0]
    """
    return shaped_symbols(name, (rows, columns))


# ---- parameters: how compiled functions take arrays --------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One argument of a compiled function: a scalar symbol (``shape == ()``), or an array of
    symbols, its ``elements`` in C order."""

    name: str
    shape: tuple[int, ...]
    elements: tuple[Expr, ...]

    @property
    def is_array(self) -> bool:
        return self.shape != ()


def scalar(node: Expr) -> Parameter:
    return Parameter(node.param, (), (node,))


def parameter(name: str, shape: tuple[int, ...]) -> Parameter:
    """The array parameter ``name`` of ``shape``, over the symbols ``name[i, ...]``."""
    return Parameter(name, shape, tuple(shaped_symbols(name, shape).flat))


def _array_parameter(items: Any, what: str) -> Parameter:
    flat = list(items.flat)
    bases = set()
    for k, node in enumerate(flat):
        if not isinstance(node, Expr) or node.op is not SYMBOL:
            raise TypeError(f"{what}: an array parameter holds symbols only; element {k} is {reprlib.repr(node)}")
        match = _ELEMENT.fullmatch(node.param)
        bases.add(match["base"] if match else None)
    base = bases.pop() if len(bases) == 1 else None
    if base is None or not flat:
        raise ValueError(f"{what}: an array parameter is the elements of one array of symbols "
                         "(sg.vector, sg.matrix or sg.symbols(name, shape=...)), each once")
    return Parameter(base, tuple(items.shape), tuple(flat))


def inferred(used: Iterable[Expr]) -> list[Parameter]:
    """The parameters of the symbols ``used``, by name: a scalar symbol is one; the elements of an
    array (``x[0]``, ``x[2]``) are one array parameter whose shape reaches the largest index used."""
    scalars: list[Parameter] = []
    groups: dict[str, list[tuple[int, ...]]] = {}
    for node in used:
        match = _ELEMENT.fullmatch(node.param)
        if match is None:
            scalars.append(scalar(node))
        else:
            groups.setdefault(match["base"], []).append(tuple(map(int, match["index"].split(", "))))
    found = list(scalars)
    for base, indices in groups.items():
        ranks = {len(i) for i in indices}
        if len(ranks) != 1:
            raise ValueError(f"the elements of {base!r} are indexed with {sorted(ranks)} indices; "
                             "give the array itself in args=")
        found.append(parameter(base, tuple(max(d) + 1 for d in zip(*indices))))
    return sorted(found, key=lambda p: p.name)


def as_parameters(items: Any, what: str, among: Callable[[], Sequence[Parameter]],
                  check_names: bool = True) -> list[Parameter]:
    """``wrt`` or ``args`` as parameters: each item a symbol, an array of symbols, or a name: of an
    array among the parameters ``among()`` finds, or of a symbol (with ``check_names``, one of
    theirs: anything else is a typo). One string of names is split as ``symbols`` splits it."""
    if isinstance(items, str) or isinstance(items, Expr) or is_array(items):
        items = [items]
    entries = [name for item in items for name in (split_names(item, what) if isinstance(item, str) else [item])]
    arrays: dict[str, Parameter] = {}
    if any(isinstance(e, str) for e in entries):
        arrays = {p.name: p for p in among() if p.is_array}
    # Symbols and their names are checked together, as the scalar interface always checked them.
    scalars = iter(as_symbols([e for e in entries if not is_array(e) and not (isinstance(e, str) and e in arrays)],
                              what, (lambda: flat(among())) if check_names else None))
    found: list[Parameter] = []
    for i, entry in enumerate(entries):
        if is_array(entry):
            found.append(_array_parameter(entry, f"{what}[{i}]"))
        elif isinstance(entry, str) and entry in arrays:
            found.append(arrays[entry])
        else:
            found.append(scalar(next(scalars)))
    seen: set[Expr] = set()
    for p in found:
        for e in p.elements:
            if e in seen:
                raise ValueError(f"{what}: the symbol {e.param!r} is listed twice")
            seen.add(e)
    return found


def array_shapes(parameters: Sequence[Parameter]) -> list[tuple[int, ...]] | None:
    """Each parameter's shape where any of them is an array (its results come in those
    shapes); None where all are scalars."""
    return [p.shape for p in parameters] if any(p.is_array for p in parameters) else None


def flat(parameters: Iterable[Parameter]) -> list[Expr]:
    """The symbols of ``parameters``, in order."""
    return [e for p in parameters for e in p.elements]


def signature(roots: list[Expr], wrt: Any, args: Any) -> tuple[list[Expr], list[Parameter], list[Parameter]]:
    """The graph's topological order, the ``wrt`` parameters (default: every symbol, by name;
    the elements of an array of symbols as one array), the parameters.

    A ``wrt`` name must name a symbol (or array) the expression uses or one of ``args`` (any
    other is almost surely a typo); a ``wrt`` symbol it does not use is an argument whose
    derivative is 0.
    """
    graph_order = topological_order(roots)
    used = [n for n in graph_order if n.op is SYMBOL]
    found: list[list[Parameter]] = []

    def among() -> list[Parameter]:
        if not found:
            found.append(inferred(used))
        return found[0]

    given = None if args is None else as_parameters(args, "args", among, check_names=False)
    if wrt is None:
        wrt_params = among()
    else:
        wrt_params = as_parameters(wrt, "wrt", among if given is None else lambda: [*among(), *given])
    return graph_order, wrt_params, _order_params(used, wrt_params, given, among)


def _order_params(used: list[Expr], wrt: list[Parameter], given: list[Parameter] | None,
                  among: Callable[[], list[Parameter]]) -> list[Parameter]:
    if given is not None:
        listed = set(flat(given))
        missing = [s.param for s in used if s not in listed]
        if missing:
            raise ValueError(f"args leaves out symbols the expression uses: {', '.join(missing)}")
        absent = [w.param for w in flat(wrt) if w not in listed]
        if absent:
            raise ValueError(f"args must include every wrt symbol; missing: {', '.join(absent)}")
        return given
    differentiated = set(flat(wrt))
    rest = [p for p in among() if not differentiated.intersection(p.elements)]
    covered = differentiated.union(flat(rest))
    loose = [s for s in used if s not in covered]  # elements of an array only partly differentiated
    if loose:
        raise ValueError(f"wrt takes part of an array the expression uses ({', '.join(s.param for s in loose[:4])}"
                         f"{' ...' if len(loose) > 4 else ''}); give args= with the whole array")
    return [*wrt, *rest]


def batch_symbols(batch: Any, params: Sequence[Parameter]) -> list[Expr]:
    """The symbols of array code's ``batch`` option: symbols, arrays of symbols, or names (of
    symbols or of array parameters), each an argument. An array parameter is a batch input as
    a whole: its elements share its value's leading dims, so naming one of them names them all."""
    if batch is None:
        return []
    arrays = {p.name: p for p in params if p.is_array}
    items = split_names(batch, "batch") if isinstance(batch, str) else \
        [batch] if isinstance(batch, Expr) or is_array(batch) else batch
    if arrays and isinstance(items, (list, tuple)):  # the name of an array: its elements
        items = [e for b in items for e in (arrays[b].elements if isinstance(b, str) and b in arrays else (b,))]
    found = as_symbols(items, "batch")
    symbols = set(flat(params))
    for i, b in enumerate(found):
        if b not in symbols:
            raise ValueError(f"batch[{i}]: {b.param!r} is not an argument "
                             f"(arguments: {', '.join(p.param for p in flat(params))})")
    if not arrays:
        return found
    whole = {e: p.elements for p in arrays.values() for e in p.elements}
    return list(dict.fromkeys(e for b in found for e in whole.get(b, (b,))))


# ---- at call time: arrays in, arrays out -------------------------------------------------


def unpack_line(targets: Sequence[str], name: str, shape: tuple[int, ...]) -> str:
    """The line of generated code that reads the array parameter ``name`` into the locals
    ``targets`` (identifiers): a float64 array of its shape (what SciPy passes) inline, anything
    else through ``elements``, which converts or names what is wrong."""
    flat_list = f"{name}.tolist()" if len(shape) == 1 else f"{name}.ravel().tolist()"
    listed = ", ".join(targets) + ("," if len(targets) == 1 else "")
    return (f"    {listed} = {flat_list} if type({name}) is _ndarray and {name}.dtype is _float64 "
            f"and {name}.shape == {shape!r} else _elements({name}, {name!r}, {shape!r})")


def packed_text(slots: Sequence[str], shape: tuple[int, ...]) -> str:
    """The code of a float64 array of ``shape`` from the texts ``slots`` (C order)."""
    made = f"_fromiter({tuple_text(slots)}, _float64, {len(slots)})"  # the quickest of NumPy's ways
    return made if len(shape) == 1 else f"{made}.reshape({shape!r})"


# What the code of ``unpack_line`` and ``packed_text`` reads.
ARRAY_NAMES = frozenset({"_elements", "_ndarray", "_float64", "_fromiter"})


def array_names() -> dict[str, Any]:
    """The values of ``ARRAY_NAMES``."""
    numpy = numpy_module()
    return {"_elements": elements, "_ndarray": numpy.ndarray, "_float64": numpy.dtype(numpy.float64),
            "_fromiter": numpy.fromiter}


def elements(value: Any, name: str, shape: tuple[int, ...]) -> list[float]:
    """The values of the array parameter ``name`` as Python floats in C order (what its element
    symbols read), from any sequence or array of ``shape``; otherwise an error naming it."""
    if type(value) is list and len(shape) == 1 and len(value) == shape[0] and all(type(v) is float for v in value):
        return value  # a list of floats: read as it is
    numpy = numpy_module()
    try:
        array = numpy.asarray(value)
        kind = array.dtype.kind
        if kind == "b" or kind not in "iufO":
            raise TypeError(f"it holds {array.dtype} values")
        array = array.astype(numpy.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError(f"argument {name!r} must be an array of real numbers of shape {shape}, "
                        f"got {reprlib.repr(value)} ({error})") from None
    if array.shape != shape:
        raise ValueError(f"argument {name!r} must have shape {shape}, got shape {array.shape}")
    values: list[float] = array.ravel().tolist()
    return values


def flat_values(value: Any, name: str, shape: tuple[int, ...]) -> Any:
    """The values of the array parameter ``name`` in C order: a float64 array of ``shape`` as a
    flat view, anything else through ``elements`` (converted, or an error naming it)."""
    numpy = numpy_module()
    if type(value) is numpy.ndarray and value.dtype == numpy.float64 and value.shape == shape:
        return value.ravel()
    return elements(value, name, shape)


def packed(values: Sequence[float], shape: tuple[int, ...]) -> Any:
    """``values`` (C order) as a float64 array of ``shape``."""
    numpy = numpy_module()
    return numpy.fromiter(values, numpy.float64, len(values)).reshape(shape)


# ---- in array code (backend="numpy"): a value of shape B + S for a parameter of shape S ----------


def element_views(value: Any, name: str, shape: tuple[int, ...]) -> list[Any]:
    """Array code's ``_elements``: the elements of the array parameter ``name`` of ``shape`` S,
    in C order, from its value (an array of any namespace, already float64) of shape B + S: B
    is any leading dims (a batch of samples, or none), and element ``[i, j]`` reads the view
    ``value[..., i, j]``, of shape B. Trailing dims other than S are an error naming it."""
    dims = tuple(value.shape)
    if dims[len(dims) - len(shape):] != shape or len(dims) < len(shape):
        raise ValueError(f"argument {name!r} must have shape (..., {', '.join(map(str, shape))}) (any leading "
                         f"batch dims, then the parameter's shape {shape}), got shape {dims}")
    if len(shape) == 1:
        return [value[..., i] for i in range(shape[0])]
    keys = ((..., *index) for index in numpy_module().ndindex(*shape))
    return [value[key] for key in keys]


def gradients(xp: Any, entries: Any, groups: Sequence[tuple[int, ...]] | None, bare: bool = False) -> Any:
    """Array code's gradient from its entries per ``wrt`` symbol (C order over the parameters'
    elements): a tuple of arrays, or one 1-d array of them all. ``groups``, the shapes of the
    ``wrt`` parameters where one is an array: an entry per parameter, a scalar's as it is, an
    array's entries (one shape B each) stacked on trailing axes, an array of B + its shape;
    ``bare``: that one array alone. None: the entries as a tuple."""
    if groups is None:
        # NumPy iterates in C (giving float64 scalars); the array API only promises indexing.
        return entries if type(entries) is tuple else tuple(entries) if type(entries).__module__ == "numpy" \
            else tuple(entries[k, ...] for k in range(entries.shape[0]))
    found, start = [], 0
    for shape in groups:
        n = math.prod(shape)
        if not shape:
            found.append(entries[start])
        elif type(entries) is tuple:
            rows = xp.stack(entries[start:start + n], axis=-1)
            found.append(xp.reshape(rows, (*rows.shape[:-1], *shape)))
        else:
            found.append(xp.reshape(entries[start:start + n], shape))
        start += n
    return found[0] if bare else tuple(found)
