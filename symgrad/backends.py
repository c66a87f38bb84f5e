"""The backends: what differs between the scalar Python code and the array code generated from
one graph (each op's template and namespace, the prologue before the body), and the names that
code binds, which no parameter, temporary or output may take. ``symgrad.codegen`` writes the
body the same way for both; ``symgrad.array_code`` has the rest of array code's generation.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from symgrad.array_code import ARRAY_LOCALS, array_prologue, array_unpack_line
from symgrad.ops import all_ops
from symgrad.shapes import ARRAY_NAMES, unpack_line

_TYPE_CHECKS_PER_LINE = 6
TYPE_TUPLE_ABOVE = 1000  # arguments; see _check_input_lines
# What every generated function's namespace binds besides its ops' names; a user label is never one.
BASE_NAMESPACE: dict[str, Any] = {"inf": float("inf"), "nan": float("nan"), "type": type, "float": float,
                                  "ArithmeticError": ArithmeticError, "ValueError": ValueError}
BASE_NAMESPACE_NAMES = frozenset(BASE_NAMESPACE)


@functools.cache
def reserved_names() -> frozenset[str]:
    """Names no parameter, temporary or output may take. Only built-ins count (all registered by
    the import of ``symgrad.ops``, so one computation serves): user primitives are bound under
    names ending in "_", which ``identifier`` never makes, so the same symbols get the same names
    whatever primitives are registered."""
    names = set(keyword.kwlist) | set(keyword.softkwlist) | BASE_NAMESPACE_NAMES | ARRAY_LOCALS
    for op in all_ops():
        if not op.user:
            names |= set(op.namespace) | set(op.array_namespace)
    return frozenset(names)


@dataclass(frozen=True)
class Backend:
    """What differs between the scalar Python code and the array code generated from one graph."""

    name: str
    template: Callable[[Any, Any], Any]  # (op, param) -> Template
    namespace: Callable[[Any], Mapping[str, Any]]  # op -> the names its template uses
    # (function name, arguments, scalar arguments, what the batch's shape is read from, the lines
    # unpacking array arguments into their elements) -> the lines before the body
    prologue: Callable[[str, list[str], list[str], list[str], list[str]], list[str]]
    # (locals, argument, shape) -> the line unpacking an array argument into its elements' locals
    unpack: Callable[[list[str], str, tuple[int, ...]], str]
    # What the unpacking and the return of array arguments read, bound by symgrad.runtime (array
    # code's helpers bind their own).
    array_names: frozenset[str] = frozenset()
    # Update a dead temporary in place (``t0 *= x``) where the result has its shape: for
    # arrays this saves allocating (and page-faulting) a new buffer per operation.
    in_place: bool = False
    # The most operations a node used once may hold and still be written inside its consumer. In
    # scalar code each local stored and read again costs about as much as an operation; in array
    # code an operation inlined cannot update its operand in place.
    inline_ops: int = 2


def _scalar_template(op: Any, param: Any) -> Any:
    op.check_param(param)  # no template formats a param that was not checked
    return op.printer(param)


def _array_template(op: Any, param: Any) -> Any:
    op.check_param(param)
    return op.array_template(param)


def _check_input_lines(names: list[str]) -> list[str]:
    # Exact-type checks written out cost less than any call; anything not a float takes the slow
    # path, which converts ints and NumPy scalars or raises a TypeError naming the argument. A chain
    # of ``or`` runs a little faster, but compiles slower (a jump per argument) than one comparison
    # of the types as a tuple (with ``_float_types``, ``(float,) * n``): above TYPE_TUPLE_ABOVE
    # arguments, the compile time wins.
    if not names:
        return []
    targets = ", ".join(names) + ("," if len(names) == 1 else "")
    convert = f"        {targets} = _as_floats({', '.join(names)})"
    if len(names) <= _TYPE_CHECKS_PER_LINE:
        return [f"    if {' or '.join(f'type({n}) is not float' for n in names)}:", convert]
    if len(names) > TYPE_TUPLE_ABOVE:
        joiner, tests, closing = ", ", [f"type({n})" for n in names], "    ) != _float_types:"
    else:
        joiner, tests, closing = " or ", [f"type({n}) is not float" for n in names], "    ):"
    rows = [joiner.join(tests[i:i + _TYPE_CHECKS_PER_LINE]) for i in range(0, len(tests), _TYPE_CHECKS_PER_LINE)]
    last = len(rows) - 1
    return ["    if (", *(f"        {row}{joiner.rstrip() if i < last else ''}" for i, row in enumerate(rows)),
            closing, convert]


PYTHON = Backend("python", _scalar_template, lambda op: op.namespace,
                 lambda _name, _args, scalars, _batch, unpack: [*_check_input_lines(scalars), *unpack],
                 unpack_line, ARRAY_NAMES, inline_ops=4)
ARRAY = Backend("numpy", _array_template, lambda op: op.array_namespace, array_prologue, array_unpack_line,
                in_place=True)
BACKENDS = {backend.name: backend for backend in (PYTHON, ARRAY)}
