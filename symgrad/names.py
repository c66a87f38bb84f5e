"""Names: safe identifiers for any label, and the one routine that makes names unique.

Everything that names something after a user's label (generated code,
Values turned into symbols, drawings) goes through ``identifier`` and
``Namer``, so a label can never reach generated source as code, and two
different things never share a name. This module imports nothing of symgrad.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
