"""``@sg.jit``: a Python function of floats, traced once with symbols named after its parameters."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from symgrad.compiler import CompiledFunction
from symgrad.compiler import compile as compile_fn
from symgrad.expr import Expr, as_expr, symbol


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
        return compile_fn(self.expr, wrt=list(self.arg_names), args=list(self.arg_names),
                       name=self.fn.__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        return self.compiled.forward(*args, **kwargs)

    def value_and_grad(self, *args: Any, **kwargs: Any) -> tuple[float, tuple[float, ...]]:
        return self.compiled(*args, **kwargs)

    def grad(self, *args: Any, **kwargs: Any) -> tuple[float, ...]:
        return self.compiled(*args, **kwargs)[1]

    @functools.cached_property
    def compiled_hessian(self) -> CompiledFunction:
        return compile_fn(self.expr, wrt=list(self.arg_names), args=list(self.arg_names),
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
