"""The compile cache's key: ``cache_key``, what ``sg.compile`` and ``sg.compile_hvp`` look a
function up by in memory, and ``key_digest``, the same key as a SHA-256 that means the same in
every process (an entry's name in the disk cache, ``symgrad.diskcache``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import marshal
import operator
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from symgrad import shapes
from symgrad.expr import Expr
from symgrad.ops import SYMBOL

MAGIC = importlib.util.MAGIC_NUMBER.hex().encode()  # the interpreter's bytecode: in the key and an entry's header
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


# ---- in memory: the roots and the options ---------------------------------------------------


class _Unkeyable(Exception):
    """An option no key can be made of cheaply (it is refused, with a clear error, on compiling)."""


def _symbols_spec(items: Any) -> Any:
    """A ``wrt``, ``args`` or ``batch`` option as a cache key holds it: None, or a tuple whose names
    are ``str`` and whose symbols are the nodes (a name is checked against the expression, a
    symbol is not, so the two must not share an entry)."""
    if items is None:
        return None
    if isinstance(items, str):
        return items
    if isinstance(items, Expr) or shapes.is_array(items):
        return ("one", _symbol_spec(items))
    if not isinstance(items, (list, tuple)):
        raise _Unkeyable
    return tuple(map(_symbol_spec, items))


def _symbol_spec(item: Any) -> Any:
    if isinstance(item, str) or (isinstance(item, Expr) and item.op is SYMBOL):
        return item
    if shapes.is_array(item):
        return (item.shape, *map(_symbol_spec, item.flat))
    raise _Unkeyable


def cache_key(roots: Sequence[Expr], symbol_options: Sequence[Any], *options: Any) -> tuple[Any, ...] | None:
    """The cache key of compiling ``roots`` with ``symbol_options`` (``wrt``, ``args``, ``batch`` as
    the caller gave them) and other ``options``, or None if an option cannot be keyed.

    The roots are the key of the graph: hash-consing makes a node's identity its structure (op,
    arguments, and a param told apart by type and bit pattern: ``1`` vs ``1.0``, ``0.0`` vs
    ``-0.0``) for as long as it lives, and a cache entry keeps its graph alive; so a graph rebuilt
    with the same structure finds the same roots, and a hit walks no graph.
    """
    try:
        specs = tuple(_symbols_spec(o) for o in symbol_options)
    except _Unkeyable:
        return None
    return (*roots, specs, *options)


# ---- as bytes that mean the same in every process -------------------------------------------

_op_of = operator.attrgetter("op")
_op_name = operator.attrgetter("op.name")
_param_of = operator.attrgetter("param")
_args_of = operator.attrgetter("args")


def columns(nodes: Sequence[Expr], index: Mapping[Expr, int]) -> tuple[list[str], list[Any], list[int]]:
    """The nodes as three lists (op names, params, every argument's position in ``index``), as the
    key and a disk entry write a graph, each made by one C-level pass: an op's arity says how many
    positions a node takes."""
    args = map(index.__getitem__, itertools.chain.from_iterable(map(_args_of, nodes)))
    return list(map(_op_name, nodes)), list(map(_param_of, nodes)), list(args)


def _skeleton(item: Any, exprs: list[Expr]) -> Any:
    """``item`` (a cache key or a part of it) with each node as ``[its number in exprs]`` (no key
    holds a list); a value of another kind than symgrad's options take raises TypeError."""
    kind = type(item)
    if kind is Expr:
        exprs.append(item)
        return [len(exprs) - 1]
    if kind is tuple:
        return tuple([_skeleton(part, exprs) for part in item])
    if item is None or kind in (str, int, float, bool):
        return item
    raise TypeError(kind.__name__)


def _numbered(roots: list[Expr]) -> tuple[list[Expr], dict[Expr, int], list[int]]:
    """Every node reachable from ``roots``, numbered breadth first (roots first, then arguments
    left to right: a canonical numbering, cheaper than a topological order, which the key does
    not need), and every node's arguments' numbers, node after node (``columns``' third list)."""
    order = list(dict.fromkeys(roots))
    index = dict(zip(order, itertools.count()))
    positions: list[int] = []
    find, append = index.get, order.append
    position = positions.append
    for node in order:  # the list grows as the walk goes
        for arg in node.args:
            found = find(arg)
            if found is None:
                found = index[arg] = len(order)
                append(arg)
            position(found)
    return order, index, positions


@cache
def _package_digest() -> str:
    """A digest of symgrad's own source: any change to the code that generates code is a new key."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE_DIR, name), "rb") as file:
                digest.update(name.encode() + b"\0" + file.read() + b"\0")
    return digest.hexdigest()


def key_digest(key: tuple[Any, ...], version: str) -> tuple[str, list[Expr], dict[Expr, int]] | None:
    """The hex SHA-256 naming ``key``'s entry, and the key's nodes in ``_numbered``'s order and
    numbered (the restored function's nodes are found in it by position); None where the key holds a
    primitive of yours (its code is yours, not in the key) or a value of an unknown kind."""
    exprs: list[Expr] = []
    try:
        skeleton = _skeleton(key, exprs)
    except TypeError:
        return None
    order, index, positions = _numbered(exprs)
    if any(op.user for op in set(map(_op_of, order))):
        return None
    graph = (list(map(_op_name, order)), list(map(_param_of, order)), positions)  # as ``columns`` writes it
    roots = list(map(index.__getitem__, exprs))
    # marshal version 2 writes no back-references, which depend on reference counts: equal data, equal bytes.
    data = marshal.dumps((graph, roots, skeleton), 2)
    prefix = f"{version}\0{_package_digest()}\0{sys.implementation.cache_tag}\0".encode() + MAGIC
    return hashlib.sha256(prefix + b"\0" + data).hexdigest(), order, index
