"""Graphviz drawings of the forward graph and of reverse mode, micrograd's ``draw_dot`` style.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> dot = sg.draw(sg.tanh(x * y) + x, at={"x": 0.5, "y": 2.0})
    >>> dot.source.startswith("digraph")
    True

Each value is a record node (its text, and with ``at`` its data and
gradient); each operation is a small node feeding it. Symbols are blue,
constants grey, adjoint nodes of the backward graph orange, gradient
outputs bold. Drawings are ``graphviz.Digraph`` objects: ``.source`` is the
DOT text, ``.render()`` / ``.pipe()`` need Graphviz's ``dot`` program, and
Jupyter shows them inline. Graphviz is imported only here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from symgrad import display, engine
from symgrad.compiler import CompiledFunction
from symgrad.engine import Value, _topological, leaf_name, to_expr
from symgrad.expr import Expr, as_expr, const, symbol, to_text, topological_order
from symgrad.literals import format_number
from symgrad.names import Namer
from symgrad.ops import CONST, SYMBOL

MAX_NODES = 500

_INSTALL_COMMANDS = ("`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
                     "`conda install graphviz`")
_INSTALL_DOT = (
    "Graphviz's `dot` program is needed to render drawings (the DOT text is in `.source`). "
    f"Install it with {_INSTALL_COMMANDS}."
)

_STYLE = {
    "symbol": {"shape": "record", "style": "filled", "fillcolor": "#cfe2ff"},
    "const": {"shape": "record", "style": "filled,dashed", "fillcolor": "#eeeeee"},
    "forward": {"shape": "record"},
    "adjoint": {"shape": "record", "style": "filled", "fillcolor": "#ffd8a8"},
    "op": {"shape": "ellipse", "fontsize": "10", "width": "0.3", "height": "0.3"},
    "adjoint_op": {"shape": "ellipse", "fontsize": "10", "width": "0.3", "height": "0.3",
                   "style": "filled", "fillcolor": "#ffe8cc"},
    "cut": {"shape": "plaintext", "label": "…"},
}


@functools.cache
def _drawing_class() -> type:
    import graphviz

    class DotNotFound(graphviz.ExecutableNotFound):  # type: ignore[misc]  # graphviz ships no types
        """``dot`` is missing: the message says how to install it."""

        _msg = "failed to execute {!r}. " + _INSTALL_DOT

    class Drawing(graphviz.Digraph):  # type: ignore[misc]
        """A ``graphviz.Digraph`` whose rendering errors say how to install ``dot``."""

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise DotNotFound(["dot"]) from None

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound:
                raise DotNotFound(["dot"]) from None

        def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **options: Any) -> dict[str, Any]:
            """SVG in a notebook; without ``dot``, a line saying how to install it and the DOT text."""
            try:
                bundle: dict[str, Any] = super()._repr_mimebundle_(include, exclude, **options)
                return bundle
            except graphviz.ExecutableNotFound:
                hint = f"Graphviz's `dot` is not installed (to see this drawing: {_INSTALL_COMMANDS}); its DOT text:"
                return {"text/plain": f"{hint}\n{self.source}",
                        "text/html": f"<p>{display.escape(hint)}</p><pre>{display.escape(self.source)}</pre>"}

    return Drawing


def _escape(text: str) -> str:
    """Text safe inside a record label (record syntax uses | { } < > as structure)."""
    out = []
    for ch in text:
        if ch in '{}|<>"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _evaluate(order: Sequence[Expr], at: Mapping[str, float]) -> dict[Expr, float]:
    """Numbers of every node, by the ops' own ``impl`` (missing symbols are an error)."""
    values: dict[Expr, float] = {}
    for node in order:
        if node.op is SYMBOL:
            if node.param not in at:
                raise ValueError(f"draw(at=...) has no value for the symbol {node.param!r}")
            values[node] = float(at[node.param])
        elif node.op is CONST:
            values[node] = float(node.param)
        else:
            args = [values[a] for a in node.args]
            try:
                values[node] = node.op.evaluate(args, node.param)
            except (ArithmeticError, ValueError):
                values[node] = float("nan")
    return values


def _levels(root_nodes: Sequence[Expr], depth: int) -> set[Expr]:
    """Nodes at most ``depth`` operations away from the roots."""
    keep: set[Expr] = set(root_nodes)
    frontier = list(root_nodes)
    for _ in range(depth):
        nxt = []
        for node in frontier:
            for arg in node.args:
                if arg not in keep:
                    keep.add(arg)
                    nxt.append(arg)
        frontier = nxt
    return keep


def draw(
    f: Any,
    wrt: Any = None,
    *,
    backward: bool = False,
    at: Mapping[str, float] | None = None,
    max_nodes: int | None = MAX_NODES,
    depth: int | None = None,
    rankdir: str = "LR",
) -> Any:
    """Draw ``f`` (an Expr, a ``symgrad.engine.Value``, or a compiled function).

    ``at``: symbol values; each node then shows its data and its gradient
    (d f / d node). ``backward=True`` adds the backward graph (the gradient
    with respect to ``wrt``, default every symbol) after rewrites, in orange.
    A graph over ``max_nodes`` nodes raises a ValueError unless
    ``max_nodes=None`` (draw anyway) or ``depth=k`` (only the ``k`` levels
    nearest the output).
    """
    if isinstance(f, CompiledFunction):
        return _draw_graph(list(f.value_exprs), list(f.wrt), _compiled_outputs(f), at, max_nodes, depth,
                           rankdir, show_backward=True)
    if isinstance(f, Value):
        f, leaves = _from_value(f)
        at = {**leaves, **(at or {})}
    f = as_expr(f, "draw()")
    from symgrad.grad import as_symbols

    symbols = [n for n in topological_order([f]) if n.op is SYMBOL]
    wrt_nodes = sorted(symbols, key=lambda s: s.param) if wrt is None else as_symbols(wrt, among=lambda: symbols)
    grads: list[Expr] = []
    if backward:
        from symgrad.grad import value_and_grad

        f, grads = value_and_grad(f, wrt_nodes)
    labels = {g: f"d_{w.param}" for w, g in zip(wrt_nodes, grads)}
    return _draw_graph([f], wrt_nodes, labels, at, max_nodes, depth, rankdir, show_backward=backward)


def _compiled_outputs(fn: Any) -> dict[Expr, str]:
    """What a compiled function returns besides its values, each labelled as in its source."""
    names = [w.param for w in fn.wrt]
    labels: dict[Expr, str] = {}
    for k, row in enumerate(fn.jacobian_exprs):
        prefix = f"d{k}" if fn.several else "d"
        for name, entry in zip(names, row):
            labels.setdefault(entry, f"{prefix}_{name}")
    for i, row in enumerate(fn.hessian_exprs or ()):
        for j in range(i, len(row)):
            if row[j].args:
                labels.setdefault(row[j], f"h_{names[i]}_{names[j]}")
    return labels


def _from_value(root: Any) -> tuple[Expr, dict[str, float]]:
    """A Value graph as an expression whose leaves are symbols named after their labels."""
    leaves: dict[int, Expr] = {}
    at: dict[str, float] = {}
    namer = Namer()
    for i, v in enumerate(_topological(root)):
        if v._prev:
            continue
        if v._const:  # a number mixed in: a constant, not an input
            leaves[id(v)] = const(v.data)
            continue
        name = leaf_name(v, i, namer)
        leaves[id(v)] = symbol(name)
        at[name] = v.data
    (expr,) = to_expr([root], leaf=lambda v: leaves[id(v)])
    return expr, at


def _draw_graph(values: list[Expr], wrt: list[Expr], derived: dict[Expr, str], at: Mapping[str, float] | None,
                max_nodes: int | None, depth: int | None, rankdir: str, show_backward: bool) -> Any:
    """``derived``: each derivative drawn (with ``show_backward``) -> its label."""
    grads = list(derived) if show_backward else []
    forward_set = set(topological_order(values))
    nodes = topological_order([*values, *grads])
    keep = _kept_nodes([*values, *grads], nodes, max_nodes, depth)
    numbers, adjoint_values = _node_numbers(values, wrt, nodes, at)
    show_grads = at is not None and len(values) == 1  # each forward node's grad: d value / d node

    dot = _drawing_class()(format="svg", graph_attr={"rankdir": rankdir})
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    outputs = derived if show_backward else {}
    for node in nodes:
        if node in keep:
            kind = ("symbol" if node.op is SYMBOL else "const" if node.op is CONST
                    else "forward" if node in forward_set else "adjoint")
            fields = [_escape(_node_text(node, outputs))]
            if node in numbers and kind != "const":
                fields.append(f"data {numbers[node] + 0.0:.4f}")  # + 0.0: no "-0.0000"
                if node in forward_set and show_grads:
                    fields.append(f"grad {adjoint_values.get(node, 0.0) + 0.0:.4f}")
            _draw_node(dot, node, kind, fields, ids, keep, forward_set, node in outputs)
    return dot


def _kept_nodes(roots: list[Expr], nodes: list[Expr], max_nodes: int | None, depth: int | None) -> set[Expr]:
    """The ``nodes`` drawn: the ``depth`` levels nearest the ``roots``, or all of them (a
    ValueError where they are over ``max_nodes``)."""
    if depth is not None:
        return _levels(roots, depth)
    if max_nodes is not None and len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} nodes, over max_nodes={max_nodes}: drawn whole it would be "
            "unreadable. Pass max_nodes=None to draw it anyway, or depth=k to draw the k levels "
            "nearest the output."
        )
    return set(nodes)


def _node_numbers(values: list[Expr], wrt: list[Expr], nodes: list[Expr], at: Mapping[str, float] | None
                  ) -> tuple[dict[Expr, float], dict[Expr, float]]:
    """Each node's value at ``at``, and (for one output) each forward node's grad, d value / d
    node; both empty without ``at``."""
    numbers: dict[Expr, float] = {}
    adjoint_values: dict[Expr, float] = {}
    if at is not None:
        numbers = _evaluate(nodes, at)
    if at is not None and len(values) == 1:
        from symgrad.grad import adjoints

        adjoint = adjoints(values[0], wrt)
        adjoint_nodes = topological_order(list(adjoint.values()))
        adjoint_numbers = _evaluate(adjoint_nodes, at)
        adjoint_values = {node: adjoint_numbers[a] for node, a in adjoint.items()}
    return numbers, adjoint_values


def _draw_node(dot: Any, node: Expr, kind: str, fields: list[str], ids: Mapping[Expr, str], keep: set[Expr],
               forward_set: set[Expr], is_output: bool) -> None:
    """``node`` as a record of ``fields``, with its op and the edges from its arguments (an
    argument not kept is a cut mark)."""
    attrs = dict(_STYLE[kind])
    if is_output:
        attrs["penwidth"] = "2.5"
    dot.node(ids[node], label="{ " + " | ".join(fields) + " }", **attrs)
    if not node.args:
        return
    op_id = ids[node] + "_op"
    dot.node(op_id, label=_escape(node.op.label(node.param)), **_STYLE["op" if kind != "adjoint" else "adjoint_op"])
    dot.edge(op_id, ids[node])
    for arg in node.args:
        if arg in keep:
            reused = kind == "adjoint" and arg in forward_set
            dot.edge(ids[arg], op_id, **({"style": "dashed", "color": "#e8590c"} if reused else {}))
        else:
            cut = f"{ids[arg]}_cut_{ids[node]}"
            dot.node(cut, **_STYLE["cut"])
            dot.edge(cut, op_id)


def _node_text(node: Expr, outputs: Mapping[Expr, str]) -> str:
    if node.op is SYMBOL:
        return node.name
    if node.op is CONST:
        return format_number(node.param)
    text = to_text(node, limit=28)
    return f"{outputs[node]} = {text}" if node in outputs else text


def draw_dot(root: Value, format: str = "svg", rankdir: str = "LR") -> Any:  # noqa: A002  (micrograd's name)
    """micrograd's ``draw_dot``: the graph under ``root``, each node with its data and gradient.

    The gradients shown are d root / d node for every node (computed here,
    whether or not ``backward()`` ran). Returns a ``graphviz.Digraph``.
    """
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    dot = draw(root, rankdir=rankdir)
    dot.format = format
    return dot


def _draw_compiled(self: CompiledFunction, **options: Any) -> Any:
    """The value and gradient graphs after rewrites, as ``sg.draw`` draws them."""
    return draw(self, **options)


# What is drawn never imports this module: it gets its drawing from here instead. ``fn.draw()`` for a
# compiled function, and ``draw_dot`` in symgrad.engine, where micrograd's users import it from.
_draw_compiled.__name__ = "draw"
_draw_compiled.__qualname__ = "CompiledFunction.draw"
CompiledFunction.draw = _draw_compiled  # type: ignore[method-assign]  # declared there, given here
engine.draw_dot = draw_dot
