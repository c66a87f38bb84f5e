"""Running generated code: ``exec`` in a namespace of only what its templates use (or its functions
defined from code objects stored before), ``linecache`` registration, input conversion, and the
explanation of a failure inside it.

The generated function is registered with ``linecache`` under a unique file name, so tracebacks
and ``inspect.getsource`` show its lines; a domain error inside it (log of 0, overflow in exp...)
is re-raised as an ``EvaluationError`` naming the operation, the subexpression, the line and the
inputs.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import linecache
import math
import numbers
import re
import reprlib
import sys
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from symgrad import arrays, batched_code, shapes, vectorise
from symgrad.backends import BACKENDS, BASE_NAMESPACE
from symgrad.codegen import Emitted, find_failing_node
from symgrad.errors import EvaluationError
from symgrad.expr import Expr, to_text
from symgrad.ops import all_ops

_counter = itertools.count(1)


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
class Program:
    """Executable generated code plus what explains its failures."""

    emitted: Emitted
    params: Sequence[Expr]
    filename: str
    function: Callable[..., Any]
    helper_spec: Any = None  # what its helpers were made of (symgrad.diskcache stores it)


def _failure_location(error: BaseException, filename: str) -> tuple[int, str | None, dict[str, Any]]:
    """Line number in the generated file where ``error`` arose, the failing code span, and the
    locals of the generated function there (its inputs among them: a chunk's caller's)."""
    tb = error.__traceback__
    lineno, span, local_values = 0, None, {}
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == filename:
            lineno = tb.tb_lineno
            if not code.co_name.startswith("_chunk"):  # a chunk's caller has the inputs
                local_values = tb.tb_frame.f_locals
            positions: list[tuple[int | None, ...]] = []
            if sys.version_info >= (3, 11):  # column positions: 3.10 explains the line without the failing span
                positions = list(code.co_positions())
            index = tb.tb_lasti // 2
            if 0 <= index < len(positions):
                start_line, end_line, start_col, end_col = positions[index]
                if start_line == end_line == lineno and start_col is not None and end_col is not None:
                    line = linecache.getline(filename, lineno)
                    span = line.encode()[start_col:end_col].decode(errors="replace")
        tb = tb.tb_next
    return lineno, span, local_values


def _explainer(holder: list[Program]) -> Callable[[BaseException], EvaluationError]:
    # The inputs are read from the failing frame rather than passed in: a tuple of every
    # parameter written into the source would cost compile time on every function for the sake
    # of its rare errors.
    def explain(error: BaseException) -> EvaluationError:
        program = holder[0]
        emitted = program.emitted
        lineno, span, local_values = _failure_location(error, program.filename)
        line = linecache.getline(program.filename, lineno).strip()
        line_node = emitted.line_nodes.get(lineno)
        args = ", ".join(f"{n}={local_values.get(n)!r}" for n in emitted.param_names)
        if line_node is not None:
            params = dict(zip(program.params, emitted.symbol_names))
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


# What a collected function's source becomes in linecache: a lazy entry without a source.
_NO_SOURCE = (lambda: None,)
_forgotten: list[str] = []  # their file names, dropped from linecache at the next registration


def _forget_source(filename: str) -> None:
    """A collected function's source leaves linecache in two steps. A cyclic collection may run
    it (and this) in the middle of ``linecache.checkcache``, which reads every name it listed
    before: the entry is replaced, never removed, here, and removed by ``run`` later."""
    if filename in linecache.cache:
        linecache.cache[filename] = _NO_SOURCE
    _forgotten.append(filename)


def _drop_forgotten_sources() -> None:
    while _forgotten:
        filename = _forgotten.pop()
        if linecache.cache.get(filename) is _NO_SOURCE:
            linecache.cache.pop(filename, None)


def run(emitted: Emitted, params: Sequence[Expr], purpose: str, helper_spec: Any = None,
        define: Callable[[str, str, dict[str, Any]], None] | None = None) -> Program:
    """``exec`` generated source in a namespace holding only what its templates use (and its helpers).
    ``define(source, filename, namespace)`` defines the functions instead of compiling the source
    (``code_installer``: from stored code objects, as ``symgrad.diskcache`` keeps them)."""
    filename = f"<symgrad:{emitted.function_name}:{purpose}:{next(_counter)}>"
    namespace: dict[str, Any] = {"__builtins__": {}, **BASE_NAMESPACE}
    backend = BACKENDS[emitted.backend]
    for op in all_ops():
        for name, value in backend.namespace(op).items():
            if name in emitted.namespace_names:
                namespace[name] = value
    holder: list[Program] = []
    namespace["_as_floats"] = _float_converter(emitted.scalar_names)
    namespace["_float_types"] = (float,) * len(emitted.scalar_names)
    if emitted.namespace_names & shapes.ARRAY_NAMES:  # array parameters or outputs
        namespace.update(shapes.array_names())
    namespace["_explain"] = _explainer(holder)
    namespace.update(_helpers(helper_spec))
    (define or _compile_each)(emitted.source, filename, namespace)
    function = namespace[emitted.function_name]
    _drop_forgotten_sources()
    # mtime None keeps linecache.checkcache from dropping the entry.
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True), filename)
    weakref.finalize(function, _forget_source, filename)
    program = Program(emitted, params, filename, function, helper_spec)
    holder.append(program)
    return program


def _compile_each(source: str, filename: str, namespace: dict[str, Any]) -> None:
    """Compile and run ``source`` one top-level ``def`` at a time (a long function's chunks:
    ``symgrad.chunks``), so ``compile()`` never sees more than one; each function's line numbers
    are then moved to where its ``def`` is in ``source``, as tracebacks and ``linecache`` read them."""
    starts = [0]
    at = source.find("\ndef ")
    while at >= 0:
        starts.append(at + 1)
        at = source.find("\ndef ", at + 1)
    if len(starts) == 1:
        exec(builtins.compile(source, filename, "exec"), namespace)
        return
    line = 1
    for begin, end in itertools.pairwise([*starts, len(source)]):
        block = source[begin:end]
        exec(builtins.compile(block, filename, "exec"), namespace)
        function = namespace[block[4:block.index("(")]]
        function.__code__ = function.__code__.replace(co_firstlineno=function.__code__.co_firstlineno + line - 1)
        line += block.count("\n")


# Code objects are stored only where marshal's bytecode is CPython's (keyed by its magic number).
_CODES = sys.implementation.name == "cpython"
_DEF = re.compile(r"^def (\w+)\(", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^(?!def |\s|$)", re.MULTILINE)  # a top-level line that is not a def


def code_objects(program: Program) -> dict[str, types.CodeType] | None:
    """The code objects of the generated functions (the main one and its chunks), or None where
    the source defines anything else or the interpreter's code is not CPython's."""
    source = program.emitted.source
    if not _CODES or _TOP_LEVEL.search(source):
        return None
    namespace = program.function.__globals__
    found = {name: namespace[name].__code__ for name in _DEF.findall(source)}
    return None if any(code.co_freevars for code in found.values()) else found


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """``code`` (and the code it holds) as compiled under ``filename``, this process's name for it."""
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def code_installer(codes: dict[str, types.CodeType]) -> Callable[[str, str, dict[str, Any]], None]:
    """What defines the generated functions from their stored code objects (``code_objects``'), in
    place of ``compile()``: ``run``'s ``define``."""
    def define(source: str, filename: str, namespace: dict[str, Any]) -> None:
        for name, code in codes.items():
            namespace[name] = types.FunctionType(_renamed(code, filename), namespace, name)

    return define


# Helper specs of code that computes with NumPy and falls back on the straight-line code of
# its graph (made when first needed) where NumPy would give inf or nan for an error.
WITH_FALLBACK = ("vectorised", "batched", "loop")


def needs_fallback(spec: dict[str, Any]) -> bool:
    """Does code with these helpers need ``spec["fallback"]``, its straight-line function's maker?"""
    return any(kind in spec for kind in WITH_FALLBACK)


def _helpers(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The helpers generated code may call besides the op table's functions, from plain data
    (kept for pickling): ``_matrix`` for a large Hessian, the array runtime for array code."""
    found: dict[str, Any] = {}
    if spec and "matrix" in spec:
        n, cells, blocks, bare = spec["matrix"]
        found["_matrix"] = _matrix_builder(n, cells) if blocks is None else _blocks_builder(n, cells, blocks, bare)
    if spec and needs_fallback(spec):  # the straight-line code of the same graph, made when first called
        straight = functools.cache(spec["fallback"])
        found["_straight"] = lambda *args: straight()(*args)
    if spec and "vectorised" in spec:
        found.update(vectorise.runtime_names(spec["vectorised"]))
    if spec and "batched" in spec:
        found.update(batched_code.runtime_names(spec["batched"]))
    if spec and "loop" in spec:  # symgrad.loop_code: a loop's builtins
        found.update(_range=range, _reversed=reversed)
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


def _blocks_builder(n: int, cells: list[tuple[int, int, Any]], block_shapes: Sequence[tuple[int, ...]],
                    bare: bool) -> Callable[..., Any]:
    """The helper the Hessian of array parameters returns: block (i, j) is a float64 array of
    ``block_shapes[i] + block_shapes[j]`` (a float where both are scalars); the one block itself if ``bare``."""
    as_matrix = _matrix_builder(n, cells)
    bounds = list(itertools.accumulate((math.prod(s) for s in block_shapes), initial=0))

    def blocks(*entries: float) -> Any:
        full = shapes.packed([v for row in as_matrix(*entries) for v in row], (n, n))
        found = tuple(tuple(_block(full[a:b, c:d], si + sj)
                            for (c, d), sj in zip(itertools.pairwise(bounds), block_shapes))
                      for (a, b), si in zip(itertools.pairwise(bounds), block_shapes))
        return found[0][0] if bare else found

    return blocks


def _block(part: Any, shape: tuple[int, ...]) -> Any:
    return part.reshape(shape) if shape else float(part[0, 0])
