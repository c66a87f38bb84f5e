"""A long body in chunks: separate top-level functions, each compiled on its own.

CPython's ``compile()`` of one function takes time and memory that grow faster than its
length (a 10^5-line function takes GBs), so the body of a function over ``CHUNK_FROM`` lines
is cut, at line boundaries, into ``_chunk0``, ``_chunk1``... which the function calls in order
inside its ``try``. The code stays straight-line: each chunk takes the parameters it reads and
the tuples of the earlier chunks it reads from, and returns, as one tuple, the values it
defines that later chunks read (the last chunk returns what the function returns). What a
line reads and writes is read off its text: its target is its first word, and what it reads
are the locals (parameters, their elements, targets) its code names. ``symgrad.runtime``
compiles the source one ``def`` at a time. This module imports nothing of symgrad.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterable, Sequence

# compile()'s time and memory are flat up to about this many lines a chunk and grow above it (the
# README's "Wide graphs" has the figures); fewer, longer chunks pass fewer values between them.
CHUNK_LINES = 10_000
# A shorter body compiles as one function: chunks cost a little per call (every value a later chunk
# reads passes through a tuple), which only a body this long repays in compile() time and memory.
CHUNK_FROM = 50_000
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_PER_LINE = 16  # names per line of a chunk's loads


def _reads_and_target(line: str) -> tuple[list[str], str | None]:
    """The names ``line`` (a body line) reads and the one it assigns (None for a comment or the return)."""
    # Generated code has no strings: "#" starts a comment (most lines have none: no split for them).
    code = (line.split("#", 1)[0] if "#" in line else line).strip()
    if not code:
        return [], None
    target, rest = code.split(None, 1)
    if target == "return":
        return _NAME.findall(rest), None
    reads = _NAME.findall(rest)
    if not rest.startswith("= "):  # augmented: ``t0 *= x`` reads t0 too
        reads.insert(0, target)
    return reads, target


def chunked(body: list[str], prologue: Iterable[str], size: int = CHUNK_LINES,
            indent: str = "        ") -> tuple[list[str], list[str], Sequence[int]]:
    """``body`` (lines indented ``indent``, the last one the return) cut into chunks of ``size``
    lines: the lines that call them (to replace ``body``), the lines defining them (to follow
    the function; the body's lines keep their indent), and where each line of ``body`` went (its
    index in the latter). ``prologue`` names the locals bound before the body."""
    from_prologue = dict.fromkeys(prologue, -1)
    bounds = [*range(0, len(body), size), len(body)]
    last_writer: dict[str, int] = {}  # a local -> the last chunk so far to write it
    needs: list[dict[str, int]] = []  # per chunk: the locals it reads first -> the chunk they come from
    exports: list[dict[str, int]] = []  # per chunk: what it returns -> where in its tuple
    for k in range(len(bounds) - 1):
        written: set[str] = set()
        wanted: dict[str, int] = {}
        for line in itertools.islice(body, bounds[k], bounds[k + 1]):
            reads, target = _reads_and_target(line)
            for name in reads:
                if name not in written and name not in wanted:
                    source = last_writer.get(name, from_prologue.get(name))
                    if source is not None:  # a local (other names are the namespace's)
                        wanted[name] = source
                        if source >= 0:
                            exports[source].setdefault(name, len(exports[source]))
            if target is not None:
                written.add(target)
        needs.append(wanted)
        exports.append({})
        last_writer.update(dict.fromkeys(written, k))

    calls: list[str] = []
    lines: list[str] = []
    where = array("q", bytes(8 * len(body)))  # machine ints: millions of int objects would cost 4x
    for k, wanted in enumerate(needs):
        args = [name for name, source in wanted.items() if source < 0]
        sources = sorted({source for source in wanted.values() if source >= 0})
        params = ", ".join(args + [f"_r{j}" for j in sources])
        lines += ["", "", f"def _chunk{k}({params}):"]
        for j in sources:
            loads = sorted((exports[j][n], n) for n, s in wanted.items() if s == j)
            lines += _loads(j, loads, len(exports[j]), indent)
        for i in range(bounds[k], bounds[k + 1]):
            where[i] = len(lines)
            lines.append(body[i])
        call = f"_chunk{k}({params})"
        if k == len(needs) - 1:
            calls.append(f"{indent}return {call}")
        elif exports[k]:
            names = list(exports[k])
            lines.append(f"{indent}return {', '.join(names)}{',' if len(names) == 1 else ''}")
            calls.append(f"{indent}_r{k} = {call}")
        else:
            calls.append(f"{indent}{call}")
    return calls, lines, where


def _loads(j: int, wanted: list[tuple[int, str]], size: int, indent: str) -> list[str]:
    """The lines binding ``wanted`` (index in chunk ``j``'s tuple, name): runs of consecutive
    indices are unpacked from a slice (the whole tuple, if that is the run)."""
    runs: list[list[tuple[int, str]]] = []
    for index, name in wanted:
        if runs and runs[-1][-1][0] == index - 1 and len(runs[-1]) < _PER_LINE:
            runs[-1].append((index, name))
        else:
            runs.append([(index, name)])
    lines = []
    for run in runs:
        first, count = run[0][0], len(run)
        names = ", ".join(name for _, name in run)
        if count == 1:
            lines.append(f"{indent}{names} = _r{j}[{first}]")
        elif count == size:
            lines.append(f"{indent}{names} = _r{j}")
        else:
            lines.append(f"{indent}{names} = _r{j}[{first}:{first + count}]")
    return lines
