"""Names: safe identifiers for any label, the one routine that makes names unique, and the
temporaries of generated code, whose names are reused once their values are dead.

Everything that names something after a user's label (generated code,
Values turned into symbols, drawings) goes through ``identifier`` and
``Namer``, so a label can never reach generated source as code, and two
different things never share a name. This module imports nothing of symgrad.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

_Node = TypeVar("_Node", bound=Hashable)  # a graph's node: an Expr, or a key standing for one

_MAX_NAME = 40


def identifier(label: str) -> str:
    """A safe Python identifier for any label: ASCII only, never starting or ending with ``_``.

    Names symgrad binds itself in generated code either are fixed words or end
    with ``_`` (user primitives) or start with ``_`` (helpers), so an identifier
    made here never collides with one of those.

    >>> identifier("__import__('os')")
    'import_os'
    """
    if type(label) is not str:  # a str subclass could answer the checks below its own way
        raise TypeError(f"a name must be a str, got {type(label).__name__}")
    if label.isascii() and label.isidentifier() and len(label) <= _MAX_NAME and label[0] != "_" \
            and label[-1] != "_" and "__" not in label:
        return label  # already what the slow path would make of it
    text = "".join(ch if ch.isascii() else f"u{ord(ch):x}" for ch in label)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")[:_MAX_NAME].rstrip("_")
    if not text:
        return "v"
    if text[0].isdigit():
        text = "v" + text
    return text


def comment_text(text: str) -> str:
    """``text`` made safe to follow ``#`` on one line: printable ASCII only."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


class Namer:
    """Hands out unique names, never a taken one: ``claim("a")`` gives ``a``, then ``a_2``, ``a_3``...

        >>> namer = Namer({"a_2"})
        >>> [namer.claim(n) for n in ("a", "a_3", "a")]
        ['a', 'a_3', 'a_4']
    """

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)
        self._counters: dict[str, int] = {}
        self._suffixes: dict[str, int] = {}  # wanted -> the suffix to try next (names only get taken)

    def claim(self, wanted: str) -> str:
        """``wanted``, or ``wanted_2``, ``wanted_3``... whichever is free first; it is taken from now on."""
        name = wanted
        n = self._suffixes.get(wanted, 1)
        while name in self.taken:
            n += 1
            name = f"{wanted}_{n}"
        self._suffixes[wanted] = n
        self.taken.add(name)
        return name

    def temporary(self, prefix: str) -> str:
        """The next free ``prefix0``, ``prefix1``... (a counter per prefix keeps this O(1))."""
        n = self._counters.get(prefix, 0)
        name = prefix + str(n)
        while name in self.taken:
            n += 1
            name = prefix + str(n)
        self._counters[prefix] = n + 1
        self.taken.add(name)
        return name


class Temporaries(Generic[_Node]):
    """Names for the temporaries of one function; with ``reuse``, a name is reused once every
    reference to its value has been written (a linear scan over the straight-line schedule).
    Few live locals keep a large function's frame and its floats in cache, which makes each
    call faster.

    ``remaining`` counts, per node, the references not yet written (its uses). ``live`` maps
    each temporary still to be read to its name and the free list its name returns to (one
    list per prefix, so a section's names keep its prefix); ``pending`` maps an inlined node
    to the temporaries its text reads.
    """

    def __init__(self, namer: Namer, remaining: dict[_Node, int], reuse: bool,
                 texts: dict[_Node, Any] | None = None) -> None:
        self._namer = namer
        self._reuse = reuse
        self._remaining = remaining
        self._texts = texts  # where each node's text is kept: a dead temporary's is dropped (memory)
        self.live: dict[_Node, tuple[str, list[str]]] = {}
        self.pending: dict[_Node, list[_Node]] = {}
        self._free: dict[str, list[str]] = {}

    def written(self, references: list[_Node]) -> None:
        """A line reading ``references`` was written: free the names nothing will read again."""
        remaining = self._remaining
        for node in references:
            left = remaining[node] - 1
            remaining[node] = left
            if left <= 0:
                if self._reuse and node in self.live:
                    name, free = self.live.pop(node)
                    free.append(name)
                if self._texts is not None:
                    self._texts.pop(node, None)

    def last_read(self, node: _Node, references: list[_Node]) -> bool:
        """Is the line reading ``references`` the last to read the temporary ``node``?"""
        return node in self.live and self._remaining[node] == references.count(node)

    def take_over(self, node: _Node, dead: _Node, references: list[_Node]) -> str:
        """Write the line reading ``references``, and give ``node`` the name of ``dead``, which
        that line reads last."""
        name, free = self.live[dead]
        self.written(references)  # frees the name: ``dead`` is read last here, and names are reused
        free.remove(name)
        self.live[node] = (name, free)
        return name

    def claim(self, node: _Node, prefix: str) -> str:
        free = self._free.setdefault(prefix, [])
        name = free.pop() if free else self._namer.temporary(prefix)
        self.live[node] = (name, free)
        return name
