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
from typing import Any

from symgrad.core import Op

# The binary operators: Python's name for the dunder, and the key of its op in ``give_operators``.
BINARY_OPERATORS = ("add", "sub", "mul", "truediv")


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
