"""What a caller hands ``emit_function`` (``symgrad.codegen``): the outputs, in ``Section``s,
and the text of the ``return``, whose tuples ``tuple_text`` writes. The code generator and
array code's side of generation (``symgrad.array_code``) both import it, neither the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from symgrad.expr import Expr


@dataclass
class Section:
    """A run of outputs with a heading comment and a prefix for its temporaries."""

    heading: str
    prefix: str
    outputs: Sequence[Expr]
    names: Sequence[str | None]  # wanted names of the outputs (``value``, ``d_x``...); None: no name of its own


def tuple_text(items: Sequence[str]) -> str:
    """Python source of a tuple of the texts ``items`` (``(a,)`` for one)."""
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
