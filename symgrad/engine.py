"""micrograd's ``Value``, whose ``backward()`` runs code compiled by symgrad.

Everything a micrograd user writes works unchanged::

    >>> from symgrad.engine import Value
    >>> a = Value(-4.0, label="a"); b = Value(2.0, label="b")
    >>> g = (a * b + b**3).relu() / 2.0
    >>> g.backward()
    >>> g.data, a.grad, b.grad
    (0.0, 0.0, 0.0)

``.data`` is computed eagerly, as in micrograd. A Value also remembers how
it was made; ``backward()`` turns that record into a symgrad expression,
compiles its gradient with respect to every leaf (once per graph *shape*:
a graph built again the same way, with any numbers in it, hits a cache),
calls the compiled function, and adds the result to each leaf's ``.grad``.
As in micrograd, gradients accumulate across calls: zero them between
steps (``p.grad = 0.0``, or ``Module.zero_grad()`` in ``symgrad.nn``).

Differences from micrograd, on purpose: ``backward()`` fills the ``.grad``
of the *leaves* (the Values you created, the numbers mixed in are not
leaves you can see); intermediate nodes keep ``.grad == 0``, except the
output, which gets 1. Graphs of any depth work (no recursion). ``**``
accepts a Value exponent. ``log``, ``sigmoid``, ``sin``, ``cos``,
``sqrt`` and ``abs`` exist besides ``relu``, ``tanh`` and ``exp``, and so do
the unary functions of ``symgrad.special`` (``softplus``, ``log_sigmoid``,
``log1p``, ``expm1``, ``tan``, ``atan``, ``asin``, ``acos``, ``sinh``,
``cosh``, ``erf``).

A Value meeting a symgrad expression becomes part of it (a Value that is
a leaf stands for its number, or for the symbol ``symgrad.nn`` gives a
parameter while it compiles a loss).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symgrad import ops, special
from symgrad.arithmetic import Operators, give_methods, give_operators
from symgrad.expr import Expr, as_expr, const, make, symbol
from symgrad.literals import as_number
from symgrad.lru import LRUCache, memoised
from symgrad.names import Namer, identifier

_CACHE_SIZE = 128


class Value(Operators):
    """Stores a single scalar value and its gradient (micrograd's API)."""

    __slots__ = ("_const", "_param", "_prev", "_prim", "_symbol", "data", "grad", "label")

    def __init__(self, data: Any, _children: tuple[Value, ...] = (), _op: str = "", label: str = "") -> None:
        if _children or _op:
            raise TypeError("build Values with operators (a + b, a.relu(), ...), not by passing _children")
        self.data = float(as_number(data, "Value(data)"))
        self.grad = 0.0
        self.label = label
        self._prev: tuple[Value, ...] = ()
        self._prim: ops.Op | None = None
        self._param: Any = None
        self._const = False  # a number mixed into an expression, not a Value the user made
        self._symbol: Expr | None = None  # set while symgrad.nn traces a loss

    @property
    def _op(self) -> str:
        """The op that produced this node, as micrograd's graph drawings label it."""
        if self._prim is None:
            return ""
        return self._prim.label(self._param)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # Built with + - * / ** abs() and .relu(), ...: operators given below (symgrad.arithmetic), which
    # build through _binary, _unary and _power.

    # ---- backward -----------------------------------------------------------------

    def backward(self) -> None:
        """Add d(self)/d(leaf) to every leaf's ``.grad``, with compiled code."""
        order = _topological(self)
        program = _compiled_for(order)
        _, grads = program.run(order)
        for leaf, g in zip(program.wrt_leaves(order), grads):
            leaf.grad += g
        if self._prev:
            self.grad = 1.0

    def expr(self) -> Expr:
        """This Value's computation as a symgrad expression (leaves become their numbers,
        or their symbol while ``symgrad.nn`` compiles a loss)."""
        return to_expr([self])[0]


def _constant(number: Any) -> Value:
    v = Value(number)
    v._const = True
    return v


def _node(prim: ops.Op, args: tuple[Value, ...], param: Any = None) -> Value:
    out = Value.__new__(Value)
    datas = [a.data for a in args]
    out.data = prim.evaluate(datas, param)
    out.grad = 0.0
    out.label = ""
    out._prev = args
    out._prim = prim
    out._param = param
    out._const = False
    out._symbol = None
    return out


def _binary(prim: ops.Op, a: Any, b: Any) -> Any:
    if isinstance(a, Expr) or isinstance(b, Expr):  # joining a symbolic expression
        return prim(_as_expr(a), _as_expr(b))
    if not isinstance(a, Value):
        a = _constant(a)
    if not isinstance(b, Value):
        b = _constant(b)
    return _node(prim, (a, b))


def _unary(prim: ops.Op, a: Value) -> Value:
    return _node(prim, (a,))


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, (Value, Expr)):
        return _binary(ops.expr_power, base, exponent)
    prim, param = ops.number_power(exponent)
    return _node(prim, (base,), param)


# Value's operators (symgrad.arithmetic) and its methods: a.relu(), a.tanh(), ...
give_operators(Value, ops.OPERATORS, ops.FUNCTIONS, binary=_binary, unary=_unary, power=_power)
give_methods(Value, special.METHODS, _unary)  # a.softplus(), a.log1p(), a.erf(), ...


def _as_expr(item: Any) -> Expr:
    return to_expr([item])[0] if isinstance(item, Value) else as_expr(item)


def _topological(root: Value) -> list[Value]:
    """The Values under ``root``, each after its children (iterative, like everything here)."""
    order: list[Value] = []
    done: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if type(item) is tuple:
            node = item[0]
            if id(node) not in done:
                done.add(id(node))
                order.append(node)
            continue
        if id(item) in done:
            continue
        if not item._prev:
            done.add(id(item))
            order.append(item)
            continue
        stack.append((item,))
        stack.extend(c for c in reversed(item._prev) if id(c) not in done)
    return order


def to_expr(roots: list[Any], leaf: Callable[[Value], Expr] | None = None) -> list[Expr]:
    """symgrad expressions for Values (leaves: ``leaf(v)``; default, their symbol or number)."""
    image: dict[int, Expr] = {}
    for root in roots:
        if not isinstance(root, Value):
            continue
        for v in _topological(root):
            if id(v) in image:
                continue
            if not v._prev:
                image[id(v)] = leaf(v) if leaf else (v._symbol if v._symbol is not None else const(v.data))
            else:
                args = tuple(image[id(c)] for c in v._prev)
                image[id(v)] = make(v._prim, args, v._param)  # type: ignore[arg-type]  # a non-leaf has its op
    return [image[id(r)] if isinstance(r, Value) else as_expr(r) for r in roots]


# ---- compiled backward, cached by shape ------------------------------------------------


class _Program:
    """A compiled value-and-gradient for one graph shape, and where its inputs come from."""

    def __init__(self, fn: Any, wrt_positions: list[int], const_positions: list[int]) -> None:
        self.fn = fn
        self.wrt_positions = wrt_positions
        self.const_positions = const_positions

    def wrt_leaves(self, order: list[Value]) -> list[Value]:
        return [order[i] for i in self.wrt_positions]

    def run(self, order: list[Value]) -> tuple[float, tuple[float, ...]]:
        args = [order[i].data for i in self.wrt_positions]
        args.extend(order[i].data for i in self.const_positions)
        found: tuple[float, tuple[float, ...]] = self.fn(*args)
        return found


_programs: LRUCache[_Program] = LRUCache(_CACHE_SIZE)
stats = _programs.stats  # {"hits": ..., "misses": ...}


def _shape(order: list[Value]) -> tuple[Any, ...]:
    """The graph's structure without its numbers: ops, params, labels, wiring."""
    index: dict[int, int] = {}
    shape: list[Any] = []
    for i, v in enumerate(order):
        index[id(v)] = i
        if v._prev:
            shape.append((v._prim, v._param, *(index[id(c)] for c in v._prev)))
        else:
            shape.append((v._const, v.label))
    return tuple(shape)


def _compiled_for(order: list[Value]) -> _Program:
    return memoised(_programs, _shape(order), lambda: _compile_shape(order))


def _compile_shape(order: list[Value]) -> _Program:
    from symgrad.compiler import compile as compile_fn

    namer = Namer()
    symbols: dict[int, Expr] = {}
    wrt_positions: list[int] = []
    const_positions: list[int] = []
    for i, v in enumerate(order):
        if v._prev:
            continue
        symbols[id(v)] = symbol(leaf_name(v, i, namer))
        (const_positions if v._const else wrt_positions).append(i)
    (root,) = to_expr([order[-1]], leaf=lambda v: symbols[id(v)])
    wrt = [symbols[id(order[i])] for i in wrt_positions]
    args = wrt + [symbols[id(order[i])] for i in const_positions]
    fn = compile_fn(root, wrt=wrt, args=args, name="value")
    return _Program(fn, wrt_positions, const_positions)


def leaf_name(leaf: Value, position: int, namer: Namer) -> str:
    """A unique name for a leaf: its label made an identifier, else ``v``/``c`` (a number mixed
    in) and its position in the graph."""
    return namer.claim(identifier(leaf.label) if leaf.label else ("c" if leaf._const else "v") + str(position))


# ``draw_dot(root)``, micrograd's drawing of a Value graph, is defined in symgrad.viz and set here when
# symgrad is imported, so ``from symgrad.engine import Value, draw_dot`` works as micrograd's engine
# imports do: drawing depends on Values, never the other way round.
draw_dot: Callable[..., Any]


def clear_cache() -> None:
    """Forget the compiled backward passes of every graph shape seen so far."""
    _programs.clear()
