"""The arithmetic operators, written once for every class of graph node.

``give_operators`` gives a class ``+ - * / **``, unary ``-``, ``+`` and ``abs()``, and the methods
``x.relu()``, ``x.tanh()``, ...: symgrad's ``Expr`` (from ``symgrad.ops``, which declares the
primitives) and micrograd's ``Value`` (``symgrad.engine``) alike, as tinygrad's ``MathTrait``
serves its ``UOp`` and its ``Tensor``. A class says how it builds its nodes with three functions:

``binary(op, a, b)``
    the node of the binary ``op`` over ``a`` and ``b``; one of them is a node of the class, the
    other may be anything (a Python number, a node of another class); reflected operators
    (``1 - x``) pass their operands swapped.
``unary(op, a)``
    the node of the unary ``op`` over the node ``a``.
``power(base, exponent)``
    ``base ** exponent``, which each class spells with the op its exponent calls for.

Each operator is a closure over its op and the class's function: ``x + y`` is the hot path of
building graphs, and a closure cell is the quickest thing a dunder can read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from symgrad.core import Op

if TYPE_CHECKING:
    from typing_extensions import Self

# The binary operators: Python's name for the dunder, and the key of its op in ``give_operators``.
BINARY_OPERATORS = ("add", "sub", "mul", "truediv")


class Operators:
    """The base of the classes ``give_operators`` serves: it declares, for type checkers, what that
    gives them (a number on either side of an operator is a constant node)."""

    __slots__ = ()

    if TYPE_CHECKING:
        def __add__(self, other: Self | float) -> Self: ...
        def __radd__(self, other: float) -> Self: ...
        def __sub__(self, other: Self | float) -> Self: ...
        def __rsub__(self, other: float) -> Self: ...
        def __mul__(self, other: Self | float) -> Self: ...
        def __rmul__(self, other: float) -> Self: ...
        def __truediv__(self, other: Self | float) -> Self: ...
        def __rtruediv__(self, other: float) -> Self: ...
        def __pow__(self, other: Self | float) -> Self: ...
        def __rpow__(self, other: float) -> Self: ...
        def __neg__(self) -> Self: ...
        def __pos__(self) -> Self: ...
        def __abs__(self) -> Self: ...
        # One per function of symgrad.ops.FUNCTIONS, micrograd style: x.relu(), x.tanh(), ...
        def exp(self) -> Self: ...
        def log(self) -> Self: ...
        def sqrt(self) -> Self: ...
        def sin(self) -> Self: ...
        def cos(self) -> Self: ...
        def tanh(self) -> Self: ...
        def sigmoid(self) -> Self: ...
        def relu(self) -> Self: ...
        def abs(self) -> Self: ...
        # And one per function of symgrad.special.METHODS (give_methods).
        def log1p(self) -> Self: ...
        def expm1(self) -> Self: ...
        def softplus(self) -> Self: ...
        def log_sigmoid(self) -> Self: ...
        def tan(self) -> Self: ...
        def atan(self) -> Self: ...
        def asin(self) -> Self: ...
        def acos(self) -> Self: ...
        def sinh(self) -> Self: ...
        def cosh(self) -> Self: ...
        def erf(self) -> Self: ...


def give_operators(cls: type, ops: Mapping[str, Op], functions: Mapping[str, Op], *,
                   binary: Callable[[Op, Any, Any], Any], unary: Callable[[Op, Any], Any],
                   power: Callable[[Any, Any], Any]) -> None:
    """Give ``cls`` its operators (``ops`` maps each of ``BINARY_OPERATORS``, ``"neg"`` and
    ``"abs"`` to its op) and a method per op of ``functions``, micrograd style."""
    for name in BINARY_OPERATORS:
        _attach(cls, f"__{name}__", _forward(binary, ops[name]))
        _attach(cls, f"__r{name}__", _reflected(binary, ops[name]))
    _attach(cls, "__pow__", lambda self, other: power(self, other))
    _attach(cls, "__rpow__", lambda self, other: power(other, self))
    _attach(cls, "__neg__", _applied(unary, ops["neg"]))
    _attach(cls, "__abs__", _applied(unary, ops["abs"]))
    _attach(cls, "__pos__", lambda self: self)
    give_methods(cls, functions, unary)


def give_methods(cls: type, functions: Mapping[str, Op], unary: Callable[[Op, Any], Any]) -> None:
    """Give ``cls`` a method per unary op of ``functions``, micrograd style: ``x.relu()``."""
    for name, op in functions.items():
        method = _applied(unary, op)
        method.__doc__ = f"{name}(self), as micrograd's Value.{name}() is written."
        _attach(cls, name, method)


def _forward(binary: Callable[[Op, Any, Any], Any], op: Op) -> Callable[[Any, Any], Any]:
    return lambda self, other: binary(op, self, other)


def _reflected(binary: Callable[[Op, Any, Any], Any], op: Op) -> Callable[[Any, Any], Any]:
    return lambda self, other: binary(op, other, self)


def _applied(unary: Callable[[Op, Any], Any], op: Op) -> Callable[[Any], Any]:
    return lambda self: unary(op, self)


def _attach(cls: type, name: str, function: Callable[..., Any]) -> None:
    function.__name__ = name
    function.__qualname__ = f"{cls.__name__}.{name}"
    setattr(cls, name, function)
