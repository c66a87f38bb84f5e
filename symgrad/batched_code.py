"""The batched strategy's code (``symgrad.batched`` plans it): one line per group over ``V``
(rows × batch) and ``s``, the reduced gradient in blocks of matrix products, and the helpers
the code calls: ``_load`` (the arguments into fresh buffers, or None for the straight array
code) and ``_done`` (the value, gradient and aux outputs as ``_finish`` returns them)."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

from symgrad import vectorise
from symgrad.backends import ARRAY, reserved_names
from symgrad.batched import Group, Plan
from symgrad.codegen import Emitted, TemplateCache
from symgrad.expr import Expr, to_text
from symgrad.names import Namer, comment_text, identifier
from symgrad.ops import CONST
from symgrad.shapes import Parameter, gradients
from symgrad.vectorise import Writer, _literal


class _BatchWriter(Writer):
    """The source of one batched function: operand texts over ``V`` and ``s``, index arrays, lines."""

    def __init__(self, found: Plan) -> None:
        super().__init__(found)  # type: ignore[arg-type]  # only its index arrays and streams are used
        self.found = found

    def stream(self, positions: Sequence[int], buffer: str = "v") -> str:
        """As ``vectorise``'s, and a slice backwards where positions go down by one step (the
        backward pass often visits a group in reverse)."""
        first = positions[0]
        step = positions[1] - first if len(positions) > 1 else 0
        if step < 0 and all(b - a == step for a, b in itertools.pairwise(positions)):
            stop = first + step * len(positions)
            return f"{buffer}[{first}:{stop if stop >= 0 else ''}:{step}]"
        return super().stream(positions, buffer)

    def matrix(self, rows: Sequence[Sequence[int]]) -> str:
        """The name of an index array of one row of positions per member (1-d for one member)."""
        nested = tuple(map(tuple, rows))
        return self.index(nested[0] if len(nested) == 1 else cast(Sequence[int], nested))  # index keys by the tuple

    def block(self, positions: Sequence[int]) -> str:
        """Rows of V as a 2-D block, one per position even where positions repeat (a matmul operand)."""
        text = self.stream(positions, "V")
        if len(positions) == 1:
            return f"V[{positions[0]}:{positions[0] + 1}]"
        return f"V[{self.index(positions)}]" if ":" not in text and "_i" not in text else text

    def operand(self, nodes: Sequence[Expr], into_rows: bool) -> str:
        """One operand of a group's line: a row of V per member, or a slot of s (a column
        broadcast along the batch where the group is rows of V), or a literal."""
        first = nodes[0]
        if first not in self.found.slots:  # (an output of s also has a row, written after the groups)
            return self.stream([self.found.rows[n] for n in nodes], "V")
        if first.op is CONST and all(n is first for n in nodes) and into_rows:
            return _literal(first.param)
        positions = [self.found.slots[n] for n in nodes]
        text = self.stream(positions, "s")
        return f"{text}[:, None]" if into_rows and len(set(positions)) > 1 else text

    def signed(self, parts: Sequence[tuple[int, str]]) -> str:
        """``a + b - c`` of (sign, text) parts (``0.0`` for none)."""
        if not parts:
            return "0.0"
        (sign, text), rest = parts[0], parts[1:]
        head = text if sign > 0 else f"-{text}"
        return head + "".join(f" {'+' if s > 0 else '-'} {t}" for s, t in rest)

    def line(self, group: Group, templates: TemplateCache) -> str:
        """A group's line: its members' rows (or slots) from one NumPy expression, commented with the first's."""
        members, found = group.members, self.found
        into, buffer = (found.rows, "V") if group.batched else (found.slots, "s")
        start = into[members[0]]
        target = f"{buffer}[{start}]" if len(members) == 1 else f"{buffer}[{start}:{start + len(members)}]"
        kind = group.key[0]
        if kind == "dot":
            code = self._dot(members)
        elif kind == "long":
            code = self._long_sum(members, group.batched)
        elif kind == "sum":
            terms, signs = found.sums[members[0]]
            parts = [self.operand([found.sums[m][0][j] for m in members], group.batched) for j in range(len(terms))]
            code = self.signed(list(zip(signs, parts)))
        else:
            _, format_parts = templates(members[0].op, members[0].param)
            code = format_parts([self.operand([m.args[j] for m in members], group.batched)
                                 for j in range(len(members[0].args))])
        shown = comment_text(to_text(members[0], limit=60))
        return f"        {target} = {code}  # {shown}" + ("" if len(members) == 1 else f" ... ×{len(members)}")

    def _dot(self, members: Sequence[Expr]) -> str:
        dots, first = self.found.dots, self.found.dots[members[0]]
        matrix = self.matrix([[self.found.slots[w] for w in dots[m].weights] for m in members])
        code = f"_dot(s[{matrix}], {self.block([self.found.rows[r] for r in first.rows])})"
        parts = [self.operand([dots[m].offsets[j] for m in members], True) for j in range(len(first.offsets))]
        return self.signed([(1, code), *zip(first.signs, parts)])

    def _long_sum(self, members: Sequence[Expr], into_rows: bool) -> str:
        """A long sum's terms as (members × terms) index blocks of V and s, each summed over its terms."""
        terms, signs = self.found.sums[members[0]]
        slots, parts = self.found.slots, []
        for buffer, into in (("V", self.found.rows), ("s", slots)):
            for sign in (1, -1):  # (an output of s also has a row, written after the groups)
                picked = [j for j, (t, s) in enumerate(zip(terms, signs))
                          if s == sign and (t in slots) == (buffer == "s")]
                if not picked:
                    continue
                index = self.matrix([[into[self.found.sums[m][0][j]] for j in picked] for m in members])
                text = f"_sum({buffer}[{index}], axis=-2)" if buffer == "V" else f"_sum(s[{index}], axis=-1)"
                if buffer == "s" and into_rows and len(members) > 1:
                    text += "[:, None]"
                parts.append((sign, text))
        return self.signed(parts)

    def gradient_lines(self) -> list[str]:
        """The reduced gradient's entries into ``g``: each block of products with the same
        right-hand factors one matmul (the factor of the lower row on the left, so either
        argument order of a product gives the same blocks; rows in order, so that a block
        of a group's rows is a slice)."""
        found, result = self.found, self.found.result
        row = [found.rows[f] for f in result.factors]
        by_left: dict[int, list[tuple[int, int]]] = {}  # left row -> (right row, entry) pairs
        sums: list[tuple[int, int]] = []  # (row, entry): the sum of one factor, a row of ``V``'s row sums
        for k, (i, j) in enumerate(result.products):
            if j < 0:
                sums.append((row[i], k))
                continue
            left, right = sorted((row[i], row[j]))
            by_left.setdefault(left, []).append((right, k))
        blocks: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}  # right rows -> (left row, entries)
        for left, pairs in by_left.items():
            pairs.sort()
            blocks.setdefault(tuple(r for r, _ in pairs), []).append((left, [k for _, k in pairs]))
        lines = [f"        g = _empty({len(result.products)})"]
        if sums:
            sums.sort()
            lines.append(f"        g[{self.index([k for _, k in sums])}] = "
                         f"{self.stream([r for r, _ in sums], 'rows')}  # {len(sums)} sums of one factor")
        for rights, lefts in blocks.items():
            lefts.sort()
            index = self.index([k for _, entries in lefts for k in entries])
            lines.append(f"        g[{index}] = _dot({self.block([left for left, _ in lefts])}, "
                         f"{self.block(list(rights))}.T).ravel()  # {len(lefts)} × {len(rights)} entries")
        return lines


def emit_batched(name: str, found: Plan, params: Sequence[Parameter], header: str) -> tuple[Emitted, dict[str, Any]]:
    """The source of the plan's function and the data its helpers are made of (``runtime_names``)."""
    writer = _BatchWriter(found)
    namer = Namer(reserved_names() | {"V", "s", "g", "rows", "finite", "loaded", "batch_shape"})
    name = namer.claim(identifier(name))
    names = [namer.claim(identifier(p.name)) for p in params]
    args = ", ".join(names)
    lines = [f"def {name}({args}):", f"    # {comment_text(header)}",
             f"    loaded = _load({args})",
             "    if loaded is None:  # not NumPy arrays of a batch this code takes: the straight array code",
             f"        return _straight({args})",
             "    V, s, batch_shape = loaded",
             "    with _quiet():  # NumPy's inf and nan: the straight array code's answer, see below"]
    templates = TemplateCache(ARRAY)
    lines.extend(writer.line(g, templates) for g in found.groups)
    if found.spread:
        lines.append(f"        V[{found.rows[found.spread[0]]}:{found.size}] = "
                     f"{writer.operand(found.spread, True)}  # outputs of the parameters alone, along the batch")
    lines.append("        rows = _row_sums(V)  # each row summed over the batch")
    lines.extend(writer.gradient_lines())
    lines.append("        finite = _isfinite(_sum(rows) + _sum(s) + _sum(g))")
    lines.append("    if not finite:")
    lines.append(f"        return _straight({args})")
    lines.append("    return _done(V, rows, g, batch_shape)")
    source = "\n".join(lines) + "\n"
    namespace_names = {"xp"} | set().union(*(ARRAY.namespace(g.members[0].op) for g in found.groups
                                              if g.key[0] == "op"))
    emitted = Emitted(source, name, names, namespace_names, {}, 0, ARRAY.name, [], [])
    result = found.result
    spec = {"arrays": writer.arrays, "params": found.params, "size": (found.size, len(found.slots)),
            "constants": [float(c.param) for c in found.constants],
            "first_constant": found.slots[found.constants[0]] if found.constants else 0,
            "value": found.rows[result.value], "aux": [found.rows[a] for a in result.aux],
            "negated": result.negated, "n": len(result.products), "reduce": result.reduce,
            "groups": result.groups, "bare": result.bare}
    return emitted, spec


def _loader(spec: dict[str, Any]) -> Callable[..., Any]:
    """``_load``: the arguments in a fresh ``V`` and ``s`` and the batch's shape, or None where
    the straight array code must run (not NumPy, shapes it broadcasts, a batch for blocks)."""
    import numpy

    from symgrad import arrays

    layout, (n_rows, n_slots) = spec["params"], spec["size"]
    constants = numpy.array(spec["constants"], dtype=numpy.float64)
    first, stop = spec["first_constant"], spec["first_constant"] + len(spec["constants"])
    array_type = numpy.ndarray

    def load(*args: Any) -> Any:
        values, leads = [], []
        for a, (batched, _, shape) in zip(args, layout):
            if type(a) is not array_type or a.dtype != numpy.float64:
                a = _as_float64(numpy, a)
                if a is None:
                    return None
            lead = a.ndim - len(shape)
            if lead < 0 or a.shape[lead:] != shape or (lead and not batched):
                return None
            values.append(a)
            if batched:
                leads.append(a.shape[:lead])
        batch_shape = leads[0] if leads and all(lead == leads[0] for lead in leads) else _broadcast(numpy, leads)
        size = math.prod(batch_shape or (0,))
        if not 0 < size < arrays.BLOCK_ELEMENTS:  # a batch for blocks: the straight code's in_blocks
            return None
        V, s = numpy.empty((n_rows, size)), numpy.empty(n_slots)
        for a, (batched, start, shape) in zip(values, layout):
            n = math.prod(shape)
            if not batched:
                s[start:start + n] = a.reshape(n)
                continue
            if a.shape[:a.ndim - len(shape)] != batch_shape:
                a = numpy.broadcast_to(a, batch_shape + shape)
            if shape:
                V[start:start + n] = a.reshape(size, n).T
            else:
                V[start] = a.reshape(size)
        s[first:stop] = constants
        return V, s, batch_shape

    return load


def _as_float64(numpy: Any, a: Any) -> Any:
    """``a`` as a float64 NumPy array if it is a number, a list or a NumPy array of numbers; else None."""
    kind = type(a)
    if kind is numpy.ndarray:
        return a.astype(numpy.float64) if a.dtype.kind in "iuf" else None
    if kind not in (float, int, numpy.float64, list):
        return None
    try:
        return numpy.asarray(a, dtype=numpy.float64)
    except (TypeError, ValueError):
        return None


def _broadcast(numpy: Any, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return numpy.broadcast_shapes(*shapes) if shapes else None
    except ValueError:
        return None


def _finisher(spec: dict[str, Any]) -> Callable[..., Any]:
    """``_done``: the value summed (or averaged) over the batch, the gradient's entries signed
    and scaled into the parameters' shapes, aux outputs per sample, as ``_finish`` returns them."""
    import numpy

    value, aux, n, mean = spec["value"], spec["aux"], spec["n"], spec["reduce"] == "mean"
    signs = numpy.ones(n)
    signs[list(spec["negated"])] = -1.0
    groups, bare = spec["groups"], spec["bare"]
    aux_index = numpy.array(aux, dtype=numpy.intp)

    scaled: dict[int, Any] = {}  # batch size -> the signs times 1 / size (a mean)

    def done(V: Any, rows: Any, g: Any, batch_shape: tuple[int, ...]) -> Any:
        total = rows[value]
        if mean:
            size = V.shape[1]
            weights = scaled.get(size)
            if weights is None:
                if len(scaled) > 8:  # many batch sizes: keep a few
                    scaled.clear()
                weights = scaled.setdefault(size, signs * (1.0 / size))
            total = total * (1.0 / size)
            g *= weights
        else:
            g *= signs
        gradient = gradients(numpy, g, groups, bare)
        if not aux:
            return total, gradient
        return total, gradient, tuple(V[aux_index].reshape((len(aux), *batch_shape)))

    return done


def runtime_names(spec: dict[str, Any]) -> dict[str, Any]:
    """What a batched function reads besides ``_straight`` (``symgrad.runtime`` binds that): NumPy,
    its index arrays, ``_load`` and ``_done``."""
    import numpy

    found = vectorise.runtime_names(spec["arrays"])  # index arrays, NumPy...
    found.update(_dot=numpy.matmul, _row_sums=functools.partial(numpy.einsum, "ij->i"),  # 3x add.reduce's speed
                 _load=_loader(spec), _done=_finisher(spec))
    return found
