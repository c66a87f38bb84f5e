"""The arithmetic operators, written once for every class of graph node.

``Arithmetic`` gives ``+ - * / **``, unary ``-``, ``+`` and ``abs()`` to symgrad's ``Expr`` and to
micrograd's ``Value`` (``symgrad.engine``), as tinygrad's ``MathTrait`` serves its ``UOp`` and its
``Tensor``; ``bind_functions`` gives a class the methods ``x.relu()``, ``x.tanh()``, ... A class
using them says how it builds its nodes, with three static hooks:

``_binary(op, a, b)``
    the node of the binary ``op`` over ``a`` and ``b``; one of them is a node of the class, the
    other may be anything (a Python number, a node of another class); reflected operators
    (``1 - x``) pass their operands swapped.
``_unary(op, a)``
    the node of the unary ``op`` over the node ``a``.
``_power(base, exponent)``
    ``base ** exponent``, which each class spells with the op its exponent calls for.

The primitives are declared in ``symgrad.ops``, after the graph (which this module is below):
``use_ops`` hands the operators their ops there, as soon as they exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from symgrad.core import Op

# The ops the operators build, set once by ``use_ops``: module globals are the quickest thing a
# dunder can read, and ``x + y`` is the hot path of building graphs.
_add: Any = None
_sub: Any = None
_mul: Any = None
_div: Any = None
_neg: Any = None
_abs: Any = None


def use_ops(add: Op, sub: Op, mul: Op, div: Op, neg: Op, absolute: Op) -> None:
    """Make the operators build these ops (``symgrad.ops`` calls it with its primitives)."""
    global _add, _sub, _mul, _div, _neg, _abs
    _add, _sub, _mul, _div, _neg, _abs = add, sub, mul, div, neg, absolute


class Arithmetic:
    """``+ - * / **``, unary ``-`` and ``+``, ``abs()``: through the class's hooks (see the module)."""

    __slots__ = ()

    _binary: Callable[[Op, Any, Any], Any]
    _unary: Callable[[Op, Any], Any]
    _power: Callable[[Any, Any], Any]

    def __add__(self, other: Any) -> Any:
        return self._binary(_add, self, other)

    def __radd__(self, other: Any) -> Any:
        return self._binary(_add, other, self)

    def __sub__(self, other: Any) -> Any:
        return self._binary(_sub, self, other)

    def __rsub__(self, other: Any) -> Any:
        return self._binary(_sub, other, self)

    def __mul__(self, other: Any) -> Any:
        return self._binary(_mul, self, other)

    def __rmul__(self, other: Any) -> Any:
        return self._binary(_mul, other, self)

    def __truediv__(self, other: Any) -> Any:
        return self._binary(_div, self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._binary(_div, other, self)

    def __pow__(self, other: Any) -> Any:
        return self._power(self, other)

    def __rpow__(self, other: Any) -> Any:
        return self._power(other, self)

    def __neg__(self) -> Any:
        return self._unary(_neg, self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return self._unary(_abs, self)


def bind_functions(cls: type, functions: Mapping[str, Op]) -> None:
    """Give ``cls`` a method per op of ``functions``, micrograd style: ``x.relu()`` is
    ``cls._unary(relu, x)``."""
    for name, op in functions.items():
        setattr(cls, name, _method(cls, name, op))


def _method(cls: type, name: str, op: Op) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        return self._unary(op, self)

    method.__name__ = name
    method.__qualname__ = f"{cls.__name__}.{name}"
    method.__doc__ = f"{name}(self), as micrograd's Value.{name}() is written."
    return method
