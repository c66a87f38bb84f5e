"""The expression graph: immutable, hash-consed nodes, and its leaves (symbols and constants).

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

The other primitives, and the operators (``x * y + 1``) that build them, come
from ``symgrad.ops``, which builds on this module.
"""

from __future__ import annotations

import contextlib
import re
import reprlib
import sys
import threading
import weakref
from _weakref import _remove_dead_weakref  # type: ignore[attr-defined]
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from symgrad.arithmetic import Operators
from symgrad.core import ATOM, MUL, POW, UNARY, LatexTemplate, Op, Template, _register, by_name, call_template
from symgrad.errors import SymgradError
from symgrad.literals import as_number, check_name, check_number, format_number, latex_name, latex_number


class Expr(Operators):
    """A node of the expression graph. Build it with ``symbols`` and operators."""

    __slots__ = ("__weakref__", "args", "op", "param")

    op: Op
    args: tuple[Expr, ...]
    param: Any

    if TYPE_CHECKING:  # symgrad.special gives them: ``x > 0`` is a condition node (see ``__bool__``)
        def __gt__(self, other: Expr | float) -> Expr: ...
        def __ge__(self, other: Expr | float) -> Expr: ...
        def __lt__(self, other: Expr | float) -> Expr: ...
        def __le__(self, other: Expr | float) -> Expr: ...

    # Its operators (+, -, *, /, **, unary - and +, abs) are given by symgrad.ops, as it defines those
    # primitives (symgrad.arithmetic writes them once for Expr and Value): the graph knows no op but
    # its leaves. Python numbers on either side become constants.

    # A symbolic expression has no truth value: refuse loudly instead of letting `if expr:` or
    # `if x < 0:` quietly mean something (`x < 0` builds a condition node, symgrad.special).
    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth value of the symbolic expression {self!r} is unknown until it is "
            "evaluated; compile it and test the number, or branch with sg.where(x > 0, a, b)"
        )

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
        if self.op is not SYMBOL:
            raise AttributeError(f"{self!r} is not a symbol, so it has no name")
        return self.param  # type: ignore[no-any-return]  # a symbol's param is its name

    @property
    def value(self) -> int | float:
        """The number held by a constant (an error on any other node)."""
        if self.op is not CONST:
            raise AttributeError(f"{self!r} is not a constant")
        return self.param  # type: ignore[no-any-return]  # a constant's param is its number

    @property
    def is_const(self) -> bool:
        return self.op is CONST


class _InternRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows where it sits in the intern tables."""

    __slots__ = ("key", "table")
    key: Any
    table: dict[Any, _InternRef]

    if TYPE_CHECKING:
        def __call__(self) -> Expr | None: ...


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
        key: Any = args
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


def _call_op(op: Op, *args: Any) -> Any:
    """``op(*args)``: the node of ``op`` over the arguments (Python numbers become constants)."""
    if op.param_check is not None:  # op.takes_param, read without a call: this is the hot path of sg.exp(x)
        raise TypeError(f"{op.name} nodes need a parameter: build them with operators (x ** 2, ...)")
    if len(args) != op.arity:
        raise TypeError(f"{op.name}() takes {op.arity} argument(s), got {len(args)}")
    for arg in args:
        if type(arg) is not Expr:
            break
    else:  # the hot path: every argument is a node already
        return make(op, args)
    if any(map(is_array, args)):  # sg.exp(x) of an array of nodes: element-wise, broadcasting as NumPy does
        return sys.modules["numpy"].frompyfunc(op, op.arity, 1)(*args)
    return make(op, tuple(a if type(a) is Expr else as_expr(a, op.name) for a in args))


def is_array(value: Any) -> bool:
    """Whether ``value`` is a NumPy array (NumPy not imported: nothing is one, so none is imported)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


# Calling an op builds its node: symgrad.core, which defines Op, knows nothing of nodes.
Op.__call__ = _call_op  # type: ignore[method-assign]


def as_expr(value: Any, what: str = "argument") -> Expr:
    """``value`` if it is an Expr, else the constant for a Python number."""
    if isinstance(value, Expr):
        return value
    return make(CONST, (), as_number(value, what))


def const(value: int | float) -> Expr:
    """The constant node for a Python number."""
    return make(CONST, (), value if type(value) is float else as_number(value, "a constant"))


def symbol(name: str) -> Expr:
    """The symbol called ``name`` (any string; it is made a safe identifier when compiled)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a symbol's name must be a non-empty string, got {reprlib.repr(name)}")
    if type(name) is not str:  # a str subclass could answer str's methods its own way
        name = str.__str__(name)
    return make(SYMBOL, (), name)


def split_names(names: str, what: str) -> list[str]:
    """The names in a string, separated by spaces or commas, with SymPy's ranges: ``x0:3`` (or
    ``x:3``) is ``x0 x1 x2``, ``a:d`` is ``a b c d`` (as ``symbols`` reads them).

    >>> split_names("x0:3, a:c", "symbols()")
    ['x0', 'x1', 'x2', 'a', 'b', 'c']
    """
    parts = names.replace(",", " ").split() if isinstance(names, str) else None
    if not parts:
        raise TypeError(f"{what} needs a string of names such as 'x y', got {reprlib.repr(names)}")
    return [name for part in parts for name in (_expand_range(part, what) if ":" in part else (part,))]


_NUMBER_RANGE = re.compile(r"([^:]*?)(\d*):(\d+)")  # x0:3 -> x0 x1 x2 (the end excluded, as range's)
_LETTER_RANGE = re.compile(r"([^:]*?)([A-Za-z]):([A-Za-z])")  # a:c -> a b c (the end included, as SymPy's)


def _expand_range(part: str, what: str) -> list[str]:
    if match := _NUMBER_RANGE.fullmatch(part):
        prefix, start, end = match[1], int(match[2] or 0), int(match[3])
        found = [f"{prefix}{i}" for i in range(start, end)]
    elif match := _LETTER_RANGE.fullmatch(part):
        prefix, start, end = match[1], ord(match[2]), ord(match[3])
        found = [f"{prefix}{chr(c)}" for c in range(start, end + 1)]
    else:
        raise ValueError(f"{what}: {part!r} is not a range (write x0:3, x:3 or a:c)")
    if not found:
        raise ValueError(f"{what}: the range {part!r} is empty")
    return found


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
    return [n for n in topological_order(roots) if n.op is SYMBOL]


def count_nodes(roots: Iterable[Expr], at_most: int | None = None) -> int:
    """How many distinct nodes (symbols and constants included) ``roots`` reach; with ``at_most``,
    the walk stops past that many (and says ``at_most + 1``), so it is cheap on any graph."""
    if at_most is None:
        return len(topological_order(roots))
    seen = set(roots)
    stack = list(seen)
    while stack and len(seen) <= at_most:
        for arg in stack.pop().args:
            if arg not in seen:
                seen.add(arg)
                stack.append(arg)
    return min(len(seen), at_most + 1)


# ---- the leaves: the ops of every graph (symgrad.ops declares the others) -------------------

def _latex_constant(value: int | float) -> LatexTemplate:
    text = latex_number(value)
    return LatexTemplate(text, (), UNARY if text.startswith("-") else MUL if "cdot" in text else ATOM)


# Leaves have no printer, vjp nor impl: every pass treats them on their own.
SYMBOL = _register(
    Op("symbol", 0, label=lambda name: name, printer=None, sympy=None, vjp=None, impl=None,  # type: ignore[arg-type]
       doc="An input variable; its param is the name.", param_check=check_name,
       latex=lambda name: LatexTemplate(latex_name(name), (), ATOM))
)
CONST = _register(
    Op("const", 0, label=format_number, printer=None, sympy=None, vjp=None,  # type: ignore[arg-type]
       impl=None, doc="A number; its param is the value (int or float).",
       param_check=check_number, latex=_latex_constant)
)


def to_text(root: Expr, limit: int = 300, names: Mapping[Expr, str] | None = None) -> str:
    """Readable infix text of an expression, cut to about ``limit`` characters (see ``infix_text``:
    printing a node at the end of a million-node chain is instant). Nodes in ``names`` print as
    that name."""
    return infix_text(root, _text_template, limit, names)[0]


class _Literal(NamedTuple):
    """Text printed as it is (a leaf, a name): the shape of a template without arguments."""

    text: str
    prec: int = ATOM
    arg_prec: tuple[int, ...] = ()

    def pieces(self) -> tuple[str]:
        return (self.text,)


def _text_template(node: Expr) -> Any:
    if node.op is SYMBOL:
        return _Literal(node.param)
    if node.op is CONST:
        text = format_number(node.param)
        return _Literal(text, UNARY if text.startswith("-") else ATOM)
    if node.param is not None:  # x**2, x**0.5: show the label, not the code form
        return Template("{0}" + node.op.label(node.param), (ATOM,), POW)
    template = node.op.printer(node.param) if node.op.text is None else node.op.text
    if node.op.user or (template.arg_prec and min(template.arg_prec) >= ATOM):
        # a user primitive reads under its own name (its code calls it ``name_``), and
        # templates that repeat an argument read badly: show the call form.
        return call_template(node.op.name, node.op.arity)
    return template


def infix_text(root: Expr, template_of: Callable[[Expr], Any], limit: int, names: Mapping[Expr, str] | None = None,
           brackets: tuple[str, str] = ("(", ")"), balanced: bool = False) -> tuple[str, bool]:
    """``root`` printed by ``template_of(node)`` (a template: ``pieces()``, ``arg_prec``, ``prec``),
    with ``brackets`` where precedence needs them, cut with an ellipsis at about ``limit``
    characters (``balanced``: after the cut come the pieces that close what was opened, so LaTeX
    stays well-formed, each operation left out an ellipsis), and whether it was cut. Iterative:
    it stops descending once the text is long enough."""
    budget = limit
    out: list[str] = []
    # Stack items: a node to print (with the precedence its context needs) or a literal string.
    stack: list[Any] = [(root, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            budget -= len(item)
            continue
        budget -= 1  # every node costs, or a long left spine would be walked in full
        if budget <= 0:
            out.append(r"\ldots" if balanced else "...")
            if balanced:  # what closes the brackets opened, and the leaves between them
                out.extend(piece if isinstance(piece, str) else r"\ldots" if piece[0].args
                           else template_of(piece[0]).text for piece in reversed(stack))
            return "".join(out), True
        node, need = item
        template = _Literal(names[node]) if names is not None and node in names else template_of(node)
        pieces: list[Any] = [
            piece if isinstance(piece, str) else (node.args[piece], min(template.arg_prec[piece], ATOM - 1))
            for piece in template.pieces()
        ]
        if template.prec < need:
            pieces = [brackets[0], *pieces, brackets[1]]
        stack.extend(reversed(pieces))
    return "".join(out), False


def serialise_graph(roots: list[Expr]) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The graph under ``roots`` as plain records (op name, param, argument indices), for pickling."""
    order = topological_order(roots)
    index = {node: i for i, node in enumerate(order)}
    records = [(n.op.name, n.param, tuple(index[a] for a in n.args)) for n in order]
    return records, [index[r] for r in roots]


def rebuild_graph(records: list[tuple[Any, ...]], roots: list[int], prefix: Sequence[Expr] = ()) -> list[Expr]:
    """The nodes ``serialise_graph`` recorded (interned again, so shared with any live graph);
    with a ``prefix`` of nodes, argument and root indices count the prefix's nodes first.

    The records are untrusted data (they may come from a pickle): each is checked (a known
    op, its arity, earlier nodes as arguments, its param by the op's own check) before a
    node is made, and a bad one raises a ``SymgradError`` naming it.
    """
    nodes: list[Expr] = list(prefix)
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
    op = by_name(op_name)
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

