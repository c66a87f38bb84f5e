"""Array code's side of generation: the prologue a NumPy-backend function opens with (its
namespace, its inputs as arrays, the batch's shape, big batches in blocks), what it returns
through ``_finish`` (``symgrad.arrays`` has both ends at run time), and how a reduced gradient
is passed as factors whose products are summed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from symgrad.expr import Expr
from symgrad.ops import CONST, mul, neg
from symgrad.sections import Section, tuple_text
from symgrad.shapes import array_shapes

if TYPE_CHECKING:
    from symgrad.shapes import Parameter

ARRAY_LOCALS = frozenset({"xp", "batch_shape", "by_blocks"})  # what array code binds in its prologue


def array_prologue(function_name: str, names: list[str], _scalars: list[str], batch: list[str],
                   unpack: list[str]) -> list[str]:
    """The lines before the body: bind ``ARRAY_LOCALS``. ``names`` are the arguments, ``batch``
    the locals the batch's shape is read from (a scalar batch input, or an element of an array
    one: its leading dims), ``unpack`` the lines binding array arguments' elements (views
    ``x[..., i]``, their trailing dims checked before anything else reads them)."""
    args = ", ".join(names)
    targets = args + ("," if len(names) == 1 else "")
    return [f"    xp = _namespace({args})", f"    {targets} = _as_arrays(xp, {args})", *unpack,
            f"    batch_shape = _batch_shape({', '.join(['xp', *batch])})",
            "    # a large NumPy batch: this function over blocks of rows that fit in cache",
            f"    by_blocks = _in_blocks({function_name}, xp, batch_shape, ({targets}))",
            "    if by_blocks is not None:",
            "        return by_blocks"]


def array_unpack_line(targets: list[str], name: str, shape: tuple[int, ...]) -> str:
    """The line binding an array argument's elements: views ``x[..., i]`` (``arrays``' ``_elements``)."""
    listed = ", ".join(targets) + ("," if len(targets) == 1 else "")
    return f"    {listed} = _elements({name}, {name!r}, {shape!r})"


def array_returns(n_aux: int, wrt_positions: list[int], sums: BatchSums | None = None,
                   gradient: bool = True) -> str:
    """Array code returns through ``_finish``, which broadcasts and reduces (``symgrad.arrays``)."""
    aux = tuple_text([f"{{{1 + i}}}" for i in range(n_aux)])
    if not gradient:
        return f"_finish(xp, batch_shape, {{0}}, (), (), {aux})"
    wrt = tuple_text([f"{{p[{i}]}}" for i in wrt_positions])
    if sums is None:
        grads = tuple_text([f"{{{1 + n_aux + i}}}" for i in range(len(wrt_positions))])
        return f"_finish(xp, batch_shape, {{0}}, {grads}, {wrt}, {aux})"
    factors = tuple_text([f"{{{1 + n_aux + i}}}" for i in range(sums.n_factors)])
    products = tuple_text([tuple_text([str(i), str(j)]) for i, j in sums.products])
    signs = f", negated={tuple_text([str(k) for k in sums.negated])}" if sums.negated else ""
    return f"_finish(xp, batch_shape, {{0}}, {factors}, {wrt}, {aux}, products={products}{signs})"


def array_helper_spec(reduce: str | None, wrt: Sequence[Parameter] | None, params: Sequence[Parameter],
                      bare: bool = False) -> tuple[Any, ...]:
    """What ``symgrad.arrays.helpers`` makes a function's helpers of: its reduction and the
    argument positions of its ``wrt`` parameters (None: it returns the value alone); where a
    parameter is an array, also each argument's shape (the trailing dims of its value), each
    ``wrt`` parameter's where one is an array (its gradient entries are stacked into one array
    of it), and whether the gradient is that one array alone (``wrt`` was one array)."""
    at = {p.elements[0]: i for i, p in enumerate(params)}
    positions = None if wrt is None else [at[p.elements[0]] for p in wrt]
    if not any(p.is_array for p in (*params, *(wrt or ()))):
        return (reduce, positions)  # scalars only: the helpers of before array parameters
    groups = None if wrt is None else array_shapes(wrt)
    return (reduce, positions, [p.shape for p in params], groups, bare)


def without_unused(order: list[Expr], dropped: set[Expr]) -> list[Expr]:
    """``order`` (topological) without the nodes of ``dropped`` that no node kept reads."""
    kept: list[Expr] = []
    read: set[Expr] = set()
    for node in reversed(order):
        if node in dropped and node not in read:
            continue
        kept.append(node)
        read.update(node.args)
    kept.reverse()
    return kept


@dataclass
class BatchSums:
    """A reduced gradient as ``_finish`` sums it over the batch: entry k is the sum of
    ``factors[i] * factors[j]`` for ``(i, j) = products[k]`` (``j = -1``: of ``factors[i]``
    alone), negated for k in ``negated``.

    Summing commutes with negation and is bilinear, so the generated code computes neither
    the ``-g`` nor the ``a * b`` of each entry per sample: ``_finish`` sums a small batch's
    products in a few calls over the distinct factors laid out as rows, and a mid-size one's
    as a dot product each (a model's weight gradients are outer products of adjoints and
    activations: 337 entries from 67 factors for micrograd's moons MLP).
    """

    n_factors: int
    products: list[tuple[int, int]]
    negated: list[int]
    replaced: set[Expr]  # the entries (and negated entries' products) no longer computed as such

    @classmethod
    def of(cls, sections: list[Section], order: list[Expr]) -> tuple[BatchSums, Section]:
        """The sums of the gradient section ``sections[1]``, and the section that replaces it:
        the distinct factors, unnamed.

        An entry ``a * b`` is split only where nothing else reads the product (the adjoint
        of a hidden unit is also read by the layer below: it is computed anyway), nor
        outputs it: the value or an aux output can be a gradient entry (d/dw x*exp(w))."""
        section = sections[1]
        entries = set(section.outputs)
        negations = {e for e in entries if e.op is neg}
        cores = {e.args[0] for e in negations} | entries
        other_outputs = {o for other in sections if other is not section for o in other.outputs}
        read_elsewhere = {arg for node in order if node not in negations for arg in node.args if arg in cores}
        read_elsewhere |= (other_outputs & cores) | {e.args[0] for e in negations & other_outputs}
        factors: dict[Expr, int] = {}
        products, negated, replaced = [], [], set()
        for k, entry in enumerate(section.outputs):
            replaced.add(entry)
            if entry.op is neg:
                negated.append(k)
                entry = entry.args[0]
                replaced.add(entry)
            split = entry.op is mul and entry not in read_elsewhere and CONST not in (a.op for a in entry.args)
            pair = entry.args if split else (entry,)
            index = [factors.setdefault(factor, len(factors)) for factor in pair]
            products.append((index[0], index[1] if len(index) > 1 else -1))
        factor_section = Section(section.heading, section.prefix, list(factors), [None] * len(factors))
        # What another section outputs is computed whatever this one does with it.
        return cls(len(factors), products, negated, replaced.difference(factors, other_outputs)), factor_section
