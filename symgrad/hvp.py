"""Hessian-vector products: ``compile_hvp(f, wrt)`` gives ``hvp(point, vector) -> H @ vector``,
generated as forward mode over the reverse-mode gradient, without forming H."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symgrad.codegen import emit_function
from symgrad.compiler import cache_key, hvp_cache, signature
from symgrad.expr import Expr, as_expr, symbol, to_text
from symgrad.grad import Differentiator
from symgrad.lru import memoised
from symgrad.names import Namer
from symgrad.pipeline import no_gc_pauses
from symgrad.runtime import Program, run
from symgrad.sections import Section, tuple_text


class HVPFunction:
    """``hvp(point, vector)``: the Hessian of one expression at ``point`` times ``vector``.

    ``point`` holds the values of ``arg_names`` (the ``wrt`` symbols first);
    ``vector`` has one entry per ``wrt`` symbol. H is never formed: the
    generated code is forward mode over the reverse-mode gradient
    (see ``symgrad.grad.Differentiator.hvp``).
    """

    def __init__(self, program: Program, n_point: int, n_wrt: int, exprs: list[Expr]) -> None:
        self._program = program
        self._call = program.function
        self._n_point = n_point
        self._n_wrt = n_wrt
        self.exprs = tuple(exprs)

    @property
    def source(self) -> str:
        return self._program.emitted.source

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self._program.emitted.param_names[: self._n_point])

    def __call__(self, point: Sequence[float], vector: Sequence[float]) -> tuple[float, ...]:
        point, vector = tuple(point), tuple(vector)
        if len(point) != self._n_point:
            raise TypeError(f"hvp: point needs {self._n_point} values ({', '.join(self.arg_names)}), "
                            f"got {len(point)}")
        if len(vector) != self._n_wrt:
            raise TypeError(f"hvp: vector needs {self._n_wrt} values (one per wrt symbol), got {len(vector)}")
        return self._call(*point, *vector)


def compile_hvp(output: Any, wrt: Any = None, *, args: Any = None, name: str = "f",
                cache: bool = True) -> HVPFunction:
    """Compile a Hessian-vector product of ``output``: ``hvp(point, vector) -> H @ vector``.

        >>> import symgrad as sg
        >>> x, y = sg.symbols("x y")
        >>> hvp = sg.compile_hvp(x**2 * y, [x, y])
        >>> hvp((1.0, 3.0), (1.0, 0.0))      # first column of [[6, 2], [2, 0]]
        (6.0, 2.0)
    """
    output = as_expr(output, "compile_hvp() output")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    key = cache_key([output], (wrt, args), "hvp", name) if cache else None
    return memoised(hvp_cache, key, lambda: _compile_hvp_new(output, wrt, args, name))


def _compile_hvp_new(output: Expr, wrt: Any, args: Any, name: str) -> HVPFunction:
    with no_gc_pauses():
        graph_order, wrt_nodes, params = signature([output], wrt, args)
        namer = Namer(p.param for p in params)
        vector = [symbol(namer.claim(f"v_{w.param}")) for w in wrt_nodes]
        d = Differentiator()
        (value,) = d.prepare([output], graph_order)
        products = d.hvp(d.gradient(value, wrt_nodes), wrt_nodes, vector)
        all_params = [*params, *vector]
        emitted = emit_function(
            f"{name}_hvp", all_params,
            [Section("hessian-vector product (forward mode over the reverse-mode gradient)", "t", products,
                     [f"hv_{w.param}" for w in wrt_nodes])],
            tuple_text([f"{{{i}}}" for i in range(len(products))]),
            header=lambda names: f"hessian of {to_text(output, limit=60, names=names)} times "
                                 f"({', '.join(names[v] for v in vector)})",
        )
        return HVPFunction(run(emitted, all_params, "hvp"), len(params), len(wrt_nodes), products)
