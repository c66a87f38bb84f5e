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

The primitives are declared in ``symgrad.ops``, after the graph: an operator finds its op by
name in the table of primitives, which holds the built-in ones for good (they cannot be replaced).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from symgrad.core import _TABLE, Op


class Arithmetic:
    """``+ - * / **``, unary ``-`` and ``+``, ``abs()``: through the class's hooks (see the module)."""

    __slots__ = ()

    _binary: Callable[[Op, Any, Any], Any]
    _unary: Callable[[Op, Any], Any]
    _power: Callable[[Any, Any], Any]

    def __add__(self, other: Any) -> Any:
        return self._binary(_TABLE["add"], self, other)

    def __radd__(self, other: Any) -> Any:
        return self._binary(_TABLE["add"], other, self)

    def __sub__(self, other: Any) -> Any:
        return self._binary(_TABLE["sub"], self, other)

    def __rsub__(self, other: Any) -> Any:
        return self._binary(_TABLE["sub"], other, self)

    def __mul__(self, other: Any) -> Any:
        return self._binary(_TABLE["mul"], self, other)

    def __rmul__(self, other: Any) -> Any:
        return self._binary(_TABLE["mul"], other, self)

    def __truediv__(self, other: Any) -> Any:
        return self._binary(_TABLE["div"], self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._binary(_TABLE["div"], other, self)

    def __pow__(self, other: Any) -> Any:
        return self._power(self, other)

    def __rpow__(self, other: Any) -> Any:
        return self._power(other, self)

    def __neg__(self) -> Any:
        return self._unary(_TABLE["neg"], self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return self._unary(_TABLE["abs"], self)


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
