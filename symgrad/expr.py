"""The expression graph: immutable, hash-consed nodes and the operators that build them.

Building the same subexpression twice returns the same node, so common
subexpressions are shared by construction and structural equality is
identity (``==`` and ``hash`` are the object's own)::

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> (x * y + 1) is (x * y + 1)
    True

Interning is weak: a node lives only as long as something refers to it.
Every walk over a graph here is iterative, so a chain of a million nodes is
as good as a short one.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import reprlib
import threading
import weakref
from _weakref import _remove_dead_weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from symgrad.errors import SymgradError


class Template(NamedTuple):
    """How one node prints as Python: ``text`` with ``{0}``, ``{1}`` for its arguments.

    ``arg_prec[i]`` is the least precedence argument ``i`` may have without
    brackets (``ATOM`` when the template repeats it, so it must be a name);
    ``prec`` is the precedence of the whole text.
    """

    text: str
    arg_prec: tuple[int, ...]
    prec: int


@dataclass(eq=False)
class Op:
    """One primitive: everything about it, in one place (see ``symgrad.ops``).

    ``vjp(g, out, *args)`` returns one Expr (or None for "no dependence") per
    argument: the adjoint ``g`` pulled back through the op, written with
    symgrad operations so it can be differentiated again. ``printer(param)``
    gives the Python ``Template``; ``namespace`` the names that text uses.
    """

    name: str
    arity: int
    label: Callable[[Any], str]
    printer: Callable[[Any], Template]
    sympy: Callable[..., Any] | None
    vjp: Callable[..., tuple[Expr | None, ...]] | None
    impl: Callable[..., Any] | None
    namespace: Mapping[str, Any] = field(default_factory=dict)
    rewrites: tuple[Callable[..., Any], ...] = ()
    domain: str = "real"
    doc: str = ""
    takes_param: bool = False  # nodes carry a param (a name, a number, an exponent)
    # The same for array code (``backend="numpy"``): a template over ``xp``, the
    # array namespace of the inputs; None if the op has no array form.
    array_printer: Callable[[Any], Template] | None = None
    array_namespace: Mapping[str, Any] = field(default_factory=dict)
    user: bool = False  # registered by ``sg.primitive``
    token: int = 0  # unique per registration: a replaced primitive never matches a cache key
    # For ops with a param: checks its type and range (raising ValueError), before any
    # template formats it and whenever a graph is rebuilt from records.
    param_check: Callable[[Any], None] | None = None

    def check_param(self, param: Any) -> None:
        """Raise ValueError unless ``param`` is one this op's nodes may carry."""
        if self.param_check is None:
            if param is not None:
                raise ValueError(f"{self.name} nodes carry no parameter, got {reprlib.repr(param)}")
        else:
            self.param_check(param)

    def __call__(self, *args: Any) -> Expr:
        if self.takes_param:
            raise TypeError(f"{self.name} nodes need a parameter: build them with operators (x ** 2, ...)")
        if len(args) != self.arity:
            raise TypeError(f"{self.name}() takes {self.arity} argument(s), got {len(args)}")
        for arg in args:
            if type(arg) is not Expr:
                break
        else:  # the hot path: every argument is a node already
            return make(self, args)
        return make(self, tuple(a if type(a) is Expr else as_expr(a, self.name) for a in args))

    def __repr__(self) -> str:
        return f"<symgrad op {self.name}>"


class Expr:
    """A node of the expression graph. Build it with ``symbols`` and operators."""

    __slots__ = ("__weakref__", "args", "op", "param")

    op: Op
    args: tuple[Expr, ...]
    param: Any

    # Operators. Python numbers on either side become constants.
    def __add__(self, other: Any) -> Expr:
        return _binary(_ops.add, self, other)

    def __radd__(self, other: Any) -> Expr:
        return _binary(_ops.add, other, self)

    def __sub__(self, other: Any) -> Expr:
        return _binary(_ops.sub, self, other)

    def __rsub__(self, other: Any) -> Expr:
        return _binary(_ops.sub, other, self)

    def __mul__(self, other: Any) -> Expr:
        return _binary(_ops.mul, self, other)

    def __rmul__(self, other: Any) -> Expr:
        return _binary(_ops.mul, other, self)

    def __truediv__(self, other: Any) -> Expr:
        return _binary(_ops.div, self, other)

    def __rtruediv__(self, other: Any) -> Expr:
        return _binary(_ops.div, other, self)

    def __pow__(self, other: Any) -> Expr:
        return _ops.power(self, other)

    def __rpow__(self, other: Any) -> Expr:
        return _ops.power(other, self)

    def __neg__(self) -> Expr:
        return make(_ops.NEG, (self,))

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return _ops.abs(self)

    # A symbolic expression has no truth value and no order: refuse loudly
    # instead of letting `if expr:` or `expr < 0` quietly mean something.
    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth value of the symbolic expression {self!r} is unknown until it is "
            "evaluated; compile it and test the number, or use sg.relu/sg.abs for branches"
        )

    def _no_order(self, other: Any) -> bool:
        raise TypeError(
            f"symbolic expressions cannot be compared ({self!r}); compile and compare numbers instead"
        )

    __lt__ = __le__ = __gt__ = __ge__ = _no_order

    def __float__(self) -> float:
        raise TypeError(
            f"cannot convert the symbolic expression {self!r} to a float; use symgrad's "
            "functions (sg.tanh, sg.exp, ...) instead of math's, and compile to evaluate"
        )

    __int__ = __index__ = __complex__ = __float__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (serialise_graph([self]),))

    def __repr__(self) -> str:
        return to_text(self)

    @property
    def name(self) -> str:
        """The name of a symbol (an error on any other node)."""
        if self.op is not _ops.SYMBOL:
            raise AttributeError(f"{self!r} is not a symbol, so it has no name")
        return self.param

    @property
    def value(self) -> int | float:
        """The number held by a constant (an error on any other node)."""
        if self.op is not _ops.CONST:
            raise AttributeError(f"{self!r} is not a constant")
        return self.param

    @property
    def is_symbol(self) -> bool:
        return self.op is _ops.SYMBOL

    @property
    def is_const(self) -> bool:
        return self.op is _ops.CONST


class _InternRef(weakref.ref):
    """A weak reference that knows where it sits in the intern tables."""

    __slots__ = ("key", "table")


# op -> args, or (args, type of param, param) -> weak reference to the one node with that
# structure. One table per op keeps the key to the args tuple the node holds anyway.
_interned: dict[Any, dict[Any, _InternRef]] = {}


def _forget(ref: _InternRef) -> None:
    # Delete the entry only if it is (still) dead, as one atomic step (WeakValueDictionary's helper):
    # another thread may have put a live node under this key since this one died, and it must stay.
    _remove_dead_weakref(ref.table, ref.key)


# Thread id -> the constructor ``make`` defers to in that thread (see ``building``).
_builders: dict[int, Callable[[Op, tuple[Expr, ...], Any], Expr]] = {}
_thread_id = threading.get_ident


def make(op: Op, args: tuple[Expr, ...], param: Any = None) -> Expr:
    """The one node for ``op(args)`` with ``param`` (or, inside ``building``, what the builder makes of it)."""
    if _builders:
        build = _builders.get(_thread_id())
        if build is not None:
            return build(op, args, param)
    return intern_node(op, args, param)


@contextlib.contextmanager
def building(build: Callable[[Op, tuple[Expr, ...], Any], Expr]) -> Iterator[None]:
    """Within the block, in this thread only, every node is made by ``build(op, args, param)``.

    ``symgrad.simplify`` uses it so that reverse mode makes each node rewritten
    from the start, instead of making it and rewriting it afterwards.
    """
    thread = _thread_id()
    previous = _builders.get(thread)
    _builders[thread] = build
    try:
        yield
    finally:
        if previous is None:
            del _builders[thread]
        else:
            _builders[thread] = previous


def intern_node(op: Op, args: tuple[Expr, ...], param: Any = None) -> Expr:
    """The one node for ``op(args)`` with ``param``: found if it exists, else created."""
    table = _interned.get(op)
    if table is None:
        table = _interned.setdefault(op, {})
    if param is None:
        key = args
    else:
        # The param's type tells apart what == merges (1 and 1.0); the bit pattern tells
        # apart 0.0 and -0.0, and lets a nan equal itself.
        kind = type(param)
        key = (args, kind, param.hex() if kind is float and (param != param or param == 0.0) else param)
    ref = table.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = object.__new__(Expr)
    node.op = op
    node.args = args
    node.param = param
    ref = _InternRef(node, _forget)
    ref.key = key
    ref.table = table
    # No lock: each step is one atomic dict operation, and an entry is never overwritten, so
    # however threads interleave, a structure has at most one live node and the table holds it.
    found = table.setdefault(key, ref)
    while found is not ref:
        winner = found()
        if winner is not None:  # another thread made it first: share its node, drop this one
            return winner
        _remove_dead_weakref(table, key)  # a dead node's entry, not yet forgotten
        found = table.setdefault(key, ref)
    return node


def _binary(op: Op, a: Any, b: Any) -> Expr:
    # The hot path of building graphs: skip the generic argument handling.
    if type(a) is not Expr:
        a = as_expr(a, op.name)
    if type(b) is not Expr:
        b = as_expr(b, op.name)
    return make(op, (a, b))


# Integers below this size surely convert to a float; larger ones are checked.
_SURELY_FLOAT = 2**1000


def as_number(value: Any, what: str) -> int | float:
    """``value`` as an int or float constant: a TypeError naming ``what`` for anything else,
    a ValueError for an integer too large to be a float."""
    kind = type(value)
    if kind is float or (kind is int and -_SURELY_FLOAT < value < _SURELY_FLOAT):  # the hot path
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{what}: expected a number or a symgrad expression, got {type(value).__name__} {reprlib.repr(value)}"
        )
    if isinstance(value, numbers.Integral):
        number = int(value)
        check_float_range(number, what)
        return number
    return float(value)


def check_float_range(number: int, what: str) -> None:
    """Raise ValueError naming ``what`` if the integer ``number`` has no float value (symgrad
    computes in floats, so it could only ever be an overflow)."""
    try:
        float(number)
    except OverflowError:
        magnitude = int(math.log10(abs(number)))
        raise ValueError(f"{what}: an integer of about {'-' if number < 0 else ''}1e{magnitude} is too large "
                         "for a float (the largest is about 1.8e308)") from None


def as_expr(value: Any, what: str = "argument") -> Expr:
    """``value`` if it is an Expr, else the constant for a Python number."""
    if isinstance(value, Expr):
        return value
    return make(_ops.CONST, (), as_number(value, what))


def const(value: int | float) -> Expr:
    """The constant node for a Python number."""
    return make(_ops.CONST, (), value if type(value) is float else as_number(value, "a constant"))


def symbol(name: str) -> Expr:
    """The symbol called ``name`` (any string; it is made a safe identifier when compiled)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a symbol's name must be a non-empty string, got {reprlib.repr(name)}")
    if type(name) is not str:  # a str subclass could answer str's methods its own way
        name = str.__str__(name)
    return make(_ops.SYMBOL, (), name)


def symbols(names: str) -> Any:
    """Symbols from names separated by spaces or commas: one Expr, or a tuple of them.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    """
    found = tuple(symbol(n) for n in split_names(names, "symbols()"))
    return found[0] if len(found) == 1 else found


def split_names(names: str, what: str) -> list[str]:
    """The names in a string, separated by spaces or commas (as ``symbols`` reads them)."""
    parts = names.replace(",", " ").split() if isinstance(names, str) else None
    if not parts:
        raise TypeError(f"{what} needs a string of names such as 'x y', got {reprlib.repr(names)}")
    return parts


def topological_order(roots: Iterable[Expr], prefix: list[Expr] | None = None) -> list[Expr]:
    """Every node reachable from ``roots``, each after its arguments (iterative DFS).

    Arguments are finished left to right and roots in the order given, so
    the order is a deterministic function of the graph's structure.
    ``prefix``, if given, must be the order of some of the first roots: the
    walk continues from it instead of repeating it.
    """
    order: list[Expr] = list(prefix) if prefix else []
    done: set[Expr] = set(order)
    finish, mark = order.append, done.add
    for root in roots:
        if root in done:
            continue
        # The stack holds the path being explored; a node is finished once no
        # argument is left unfinished (re-scanning at most a few arguments is
        # cheaper than pushing a marker per node).
        stack = [root]
        push, pop = stack.append, stack.pop
        while stack:
            node = stack[-1]
            for arg in node.args:
                if arg not in done:
                    push(arg)
                    break
            else:
                pop()
                if node not in done:
                    mark(node)
                    finish(node)
    return order


def free_symbols(roots: Iterable[Expr]) -> list[Expr]:
    """The symbols the expressions depend on, in order of first appearance."""
    return [n for n in topological_order(roots) if n.op is _ops.SYMBOL]


def count_nodes(roots: Iterable[Expr]) -> int:
    """How many distinct nodes (symbols and constants included) ``roots`` reach."""
    return len(topological_order(roots))


def format_number(value: int | float) -> str:
    """A Python literal (or the names inf / nan) for a constant."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int) and abs(value) >= 10**18:
        return hex(value)  # repr of a huge int can hit Python's digit limit
    return repr(value)


def to_text(root: Expr, limit: int = 300, names: Mapping[Expr, str] | None = None) -> str:
    """Readable infix text of an expression, cut to about ``limit`` characters.

    Iterative, and it stops descending once the text is long enough, so
    printing a node at the end of a million-node chain is instant. Nodes in
    ``names`` print as that name.
    """
    budget = [limit]
    out: list[str] = []
    # Stack items: a node to print (with the precedence its context needs) or a literal string.
    stack: list[Any] = [(root, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            budget[0] -= len(item)
            continue
        node, need = item
        budget[0] -= 1  # every node costs, or a long left spine would be walked in full
        if budget[0] <= 0:
            out.append("...")
            break
        if names is not None and node in names:
            out.append(names[node])
            budget[0] -= len(names[node])
            continue
        if node.op is _ops.SYMBOL:
            out.append(node.param)
            budget[0] -= len(node.param)
            continue
        if node.op is _ops.CONST:
            text = format_number(node.param)
            out.append(f"({text})" if need > _ops.UNARY and text.startswith("-") else text)
            budget[0] -= len(text)
            continue
        if node.param is not None:  # x**2, x**0.5: show the label, not the code form
            template = Template("{0}" + node.op.label(node.param), (_ops.ATOM,), _ops.POW)
        else:
            template = node.op.printer(node.param)
            if node.op.user or (template.arg_prec and min(template.arg_prec) >= _ops.ATOM):
                # a user primitive reads under its own name (its code calls it ``name_``), and
                # templates that repeat an argument read badly: show the call form.
                template = _ops.call_template(node.op.name, node.op.arity)
        pieces: list[Any] = []
        text = template.text
        pos = 0
        while True:
            start = text.find("{", pos)
            if start < 0:
                pieces.append(text[pos:])
                break
            end = text.index("}", start)
            pieces.append(text[pos:start])
            i = int(text[start + 1 : end])
            pieces.append((node.args[i], min(template.arg_prec[i], _ops.ATOM - 1)))
            pos = end + 1
        if template.prec < need:
            pieces = ["(", *pieces, ")"]
        stack.extend(p for p in reversed(pieces) if p != "")
    return "".join(out)


def serialise_graph(roots: list[Expr]) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The graph under ``roots`` as plain records (op name, param, argument indices), for pickling."""
    order = topological_order(roots)
    index = {node: i for i, node in enumerate(order)}
    records = [(n.op.name, n.param, tuple(index[a] for a in n.args)) for n in order]
    return records, [index[r] for r in roots]


def rebuild_graph(records: list[tuple[Any, ...]], roots: list[int]) -> list[Expr]:
    """The nodes ``serialise_graph`` recorded (interned again, so shared with any live graph).

    The records are untrusted data (they may come from a pickle): each is checked (a known
    op, its arity, earlier nodes as arguments, its param by the op's own check) before a
    node is made, and a bad one raises a ``SymgradError`` naming it.
    """
    nodes: list[Expr] = []
    if type(records) not in (list, tuple) or type(roots) not in (list, tuple):
        raise SymgradError(f"refusing to rebuild a graph: expected lists of records and roots, got "
                           f"{type(records).__name__} and {type(roots).__name__}")
    for index, record in enumerate(records):
        try:
            nodes.append(_node_of_record(record, nodes))
        except (ValueError, TypeError, KeyError) as error:
            reason = error.args[0] if error.args else type(error).__name__
            raise SymgradError(
                f"refusing to rebuild a graph: record {index} {reprlib.repr(record)} is not valid: {reason}"
            ) from None
    for root in roots:
        if type(root) is not int or not 0 <= root < len(nodes):
            raise SymgradError(f"refusing to rebuild a graph: root {reprlib.repr(root)} is not the index of a record")
    return [nodes[i] for i in roots]


def _node_of_record(record: Any, earlier: list[Expr]) -> Expr:
    kind = type(record)
    if (kind is not tuple and kind is not list) or len(record) != 3:
        raise ValueError("a record is (op name, param, argument indices)")
    op_name, param, arg_ids = record
    if type(op_name) is not str:
        raise ValueError("the op name is not a str")
    op = _ops.by_name(op_name)
    kind = type(arg_ids)
    if (kind is not tuple and kind is not list) or len(arg_ids) != op.arity:
        raise ValueError(f"{op.name} takes {op.arity} argument(s)")
    count = len(earlier)
    for i in arg_ids:
        if type(i) is not int or not 0 <= i < count:
            raise ValueError("an argument is not the index of an earlier record")
    if param is not None or op.param_check is not None:
        op.check_param(param)
    return make(op, tuple([earlier[i] for i in arg_ids]), param)


def _rebuild(payload: tuple[list[tuple[Any, ...]], list[int]]) -> Expr:
    if type(payload) is not tuple or len(payload) != 2 or type(payload[1]) is not list or len(payload[1]) != 1:
        raise SymgradError(
            f"refusing to rebuild an expression: expected (records, [root]), got {reprlib.repr(payload)}"
        )
    return rebuild_graph(*payload)[0]


from symgrad import ops as _ops  # noqa: E402  (ops builds on the classes above)
