"""``@sg.jit``: a Python function of floats and arrays, traced with symbols named after its
parameters, once per kind of call (the shapes of its arrays, its non-float arguments)."""

from __future__ import annotations

import functools
import inspect
import numbers
import reprlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from symgrad import shapes
from symgrad.compiler import CompiledFunction
from symgrad.compiler import compile as compile_fn
from symgrad.expr import Expr, as_expr, symbol
from symgrad.lru import LRUCache

_TRACES = 64  # per jitted function: kinds of call kept traced


@dataclass
class _Trace:
    """The function traced for one kind of call: its expression over the symbols of the inputs
    (the ``wrt``) and of the other arguments given at run time, and its compiled forms."""

    expr: Expr
    wrt: list[Any]  # a symbol, or an array of them, per input
    args: list[Any]  # every run-time argument, in signature order
    name: str
    compiled: dict[int, CompiledFunction] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_order(self, order: int) -> CompiledFunction:
        found = self.compiled.get(order)
        if found is None:
            with self.lock:  # one compile per order, however many threads ask at once
                found = self.compiled.get(order)
                if found is None:
                    # One array input is differentiated alone: its gradient is the array itself.
                    bare = len(self.wrt) == 1 and shapes.is_array(self.wrt[0])
                    found = self.compiled[order] = compile_fn(
                        self.expr, wrt=self.wrt[0] if bare else self.wrt, args=self.args, name=self.name, order=order)
        return found


class Jitted:
    """A Python function of floats (and arrays of them), traced with symbols named after its parameters.

    The parameters without a default are the inputs, differentiated: a float is traced as a
    symbol, an array (or list) as an array of symbols of its shape (``sg.symbols(name,
    shape=...)``). A parameter with a default is not differentiated: given a float it is a
    run-time argument (changing it compiles nothing), given anything else (an int, a string, a
    flag) it is a constant of the trace. Each kind of call (the shapes, the constants) is traced
    and compiled once.

    ``.value_and_grad(...)`` returns the value and a tuple of one gradient per input (a float, or
    an array of the input's shape); a function of one array input returns that array's gradient
    alone, and ``.hessian(...)`` its Hessian as one 2-D array, as SciPy expects.

    >>> import symgrad as sg
    >>> @sg.jit
    ... def loss(w, b):
    ...     return (w * 2.0 + b - 1.0) ** 2
    >>> loss.value_and_grad(1.0, 0.0)
    (1.0, (4.0, 2.0))
    >>> @sg.jit
    ... def fit(p, scale=2.0):
    ...     return scale * (p[0] - 1) ** 2 + (p[1] - p[0] ** 2) ** 2
    >>> fit.value_and_grad([0.5, 0.5])
    (0.5625, array([-2.5,  0.5]))
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.signature = inspect.signature(fn)
        for p in self.signature.parameters.values():
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                raise TypeError(f"@sg.jit needs plain parameters; {fn.__name__} has {p}")
        self.arg_names = tuple(self.signature.parameters)
        # Whether a call giving every argument by position needs no binding (a keyword-only one cannot be).
        self._positional = all(p.kind != p.KEYWORD_ONLY for p in self.signature.parameters.values())
        self._inputs = {n for n, p in self.signature.parameters.items() if p.default is p.empty}
        self._all_floats = ("float",) * len(self.arg_names)
        self._traces: LRUCache[_Trace] = LRUCache(_TRACES)
        self._latest: _Trace | None = None
        functools.update_wrapper(self, fn)

    def _prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[_Trace, list[Any]]:
        """The trace for this kind of call, and the values of its run-time arguments."""
        in_order = self._positional and not kwargs and len(args) == len(self.arg_names)  # no binding needed
        if in_order and all(type(a) is float for a in args):
            kinds: tuple[Any, ...] = self._all_floats  # the hot path: floats, every one given
            values = list(args)
        else:
            if in_order:
                arguments = dict(zip(self.arg_names, args))
            else:
                bound = self.signature.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = bound.arguments
            kinds, values = self._kinds(arguments)
        trace = self._traces.get(kinds)
        if trace is None:
            trace = self._traces.put(kinds, self._trace(kinds))
        self._latest = trace
        return trace, values

    def _kinds(self, arguments: dict[str, Any]) -> tuple[tuple[Any, ...], list[Any]]:
        kinds: list[Any] = []
        values = []
        for name, value in arguments.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and (
                    name in self._inputs or isinstance(value, float)):
                kinds.append("float")
                values.append(value)
            elif shapes.is_array(value) or isinstance(value, (list, tuple)):
                try:
                    shape = value.shape if shapes.is_array(value) else shapes.numpy_module().shape(value)
                    kinds.append(("array", shape))
                except ValueError as error:
                    raise TypeError(f"{self.fn.__name__}: argument {name!r} is not an array of numbers "
                                    f"({reprlib.repr(value)}: {error})") from None
                values.append(value)
            elif name in self._inputs:
                raise TypeError(f"{self.fn.__name__}: argument {name!r} must be a real number or an array of them, "
                                f"got {type(value).__name__} {reprlib.repr(value)}")
            else:
                try:
                    hash(value)
                except TypeError:
                    raise TypeError(f"{self.fn.__name__}: argument {name!r} is a constant of the trace, so it "
                                    f"must be hashable; got {type(value).__name__}") from None
                kinds.append(("constant", type(value), value))
        return tuple(kinds), values

    def _trace(self, kinds: tuple[Any, ...]) -> _Trace:
        traced, wrt, run_time = [], [], []
        for name, kind in zip(self.arg_names, kinds):
            stand_in: Any
            if kind == "float":
                stand_in = symbol(name)
            elif kind[0] == "array":
                if not kind[1] or 0 in kind[1]:
                    raise ValueError(f"{self.fn.__name__}: argument {name!r} must be a non-empty array, "
                                     f"got shape {kind[1]}")
                stand_in = shapes.shaped_symbols(name, kind[1])
            else:
                traced.append(kind[2])
                continue
            traced.append(stand_in)
            run_time.append(stand_in)
            if name in self._inputs:
                wrt.append(stand_in)
        call = inspect.BoundArguments(self.signature, dict(zip(self.arg_names, traced)))
        result = self.fn(*call.args, **call.kwargs)
        expr = as_expr(result, f"the value returned by {self.fn.__name__}")
        return _Trace(expr, wrt, run_time, self.fn.__name__)

    def _latest_trace(self) -> _Trace:
        if self._latest is None:  # nothing called yet: a float for every parameter
            self._prepare((0.0,) * len(self.arg_names), {})
        assert self._latest is not None
        return self._latest

    @property
    def expr(self) -> Expr:
        """The expression of the latest kind of call (before any call: of a float for every parameter)."""
        return self._latest_trace().expr

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        trace, values = self._prepare(args, kwargs)
        return trace.of_order(1).forward(*values)

    def value_and_grad(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        trace, values = self._prepare(args, kwargs)
        found: tuple[Any, Any] = trace.of_order(1)(*values)
        return found

    def grad(self, *args: Any, **kwargs: Any) -> Any:
        return self.value_and_grad(*args, **kwargs)[1]

    def hessian(self, *args: Any, **kwargs: Any) -> Any:
        """The matrix of second derivatives at a point (compiled on first use)."""
        trace, values = self._prepare(args, kwargs)
        return trace.of_order(2)(*values)[2]

    def compiled_for(self, *args: Any, order: int = 1, **kwargs: Any) -> CompiledFunction:
        """The compiled function a call with these arguments runs (``.source`` shows its code)."""
        trace, _ = self._prepare(args, kwargs)
        return trace.of_order(order)

    def __repr__(self) -> str:
        inputs = ", ".join(n for n in self.arg_names if n in self._inputs)
        traced = len(self._traces)
        return (f"<Jitted {self.fn.__qualname__}{self.signature}: differentiates ({inputs}); "
                f"{traced} kind{'s' if traced != 1 else ''} of call traced>")

    @property
    def source(self) -> str:
        """The generated code of the latest kind of call (before any call: of a float for every parameter)."""
        return self._latest_trace().of_order(1).source


def jit(fn: Callable[..., Any]) -> Jitted:
    """Decorator: see ``Jitted``."""
    return Jitted(fn)
