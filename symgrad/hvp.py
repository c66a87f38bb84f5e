"""Hessian-vector products: ``compile_hvp(f, wrt)`` gives ``hvp(point, vector) -> H @ vector``,
generated as forward mode over the reverse-mode gradient, without forming H."""

from __future__ import annotations

from typing import Any

from symgrad import shapes
from symgrad.cachekey import cache_key
from symgrad.codegen import emit_function
from symgrad.compiler import hvp_cache
from symgrad.expr import Expr, as_expr, symbol, to_text
from symgrad.grad import Differentiator
from symgrad.lru import memoised
from symgrad.names import Namer, identifier
from symgrad.runtime import Program, run
from symgrad.sections import Section, tuple_text
from symgrad.settings import no_gc_pauses


class HVPFunction:
    """``hvp(point, vector)``: the Hessian of one expression at ``point`` times ``vector``.

    ``point`` holds the values of ``arg_names`` (the ``wrt`` symbols first);
    ``vector`` has one entry per ``wrt`` symbol. A function of one array
    parameter takes the array as ``point`` and an array of its shape as
    ``vector``, and returns an array: ``scipy.optimize.minimize(..., hessp=hvp)``. H is never formed: the
    generated code is forward mode over the reverse-mode gradient
    (see ``symgrad.grad.Differentiator.hvp``).
    """

    def __init__(self, program: Program, n_point: int, n_wrt: int, exprs: list[Expr], bare: bool = False) -> None:
        self._program = program
        self._call = program.function
        self._n_point = n_point
        self._n_wrt = n_wrt
        self._bare = bare
        self.exprs = tuple(exprs)

    @property
    def source(self) -> str:
        return self._program.emitted.source

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self._program.emitted.param_names[: self._n_point])

    def __repr__(self) -> str:
        names = self._program.emitted.param_names
        return (f"<HVPFunction {self._program.emitted.function_name}(point=({', '.join(names[: self._n_point])}), "
                f"vector=({', '.join(names[self._n_point :])})): H @ vector by {self._n_wrt} "
                f"symbol{'s' if self._n_wrt != 1 else ''}, {self.source.count(chr(10))} lines>")

    def __call__(self, point: Any, vector: Any) -> Any:
        if self._bare:  # one array parameter: point and vector are arrays of its shape (SciPy's hessp)
            return self._call(point, vector)
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
    found: HVPFunction = memoised(hvp_cache, key, lambda: _compile_hvp_new(output, wrt, args, name))
    return found


def _compile_hvp_new(output: Expr, wrt: Any, args: Any, name: str) -> HVPFunction:
    with no_gc_pauses():
        graph_order, wrt_params, params = shapes.signature([output], wrt, args)
        wrt_nodes, symbols = shapes.flat(wrt_params), shapes.flat(params)
        namer = Namer(p.name for p in params)
        # The vector has the shape of the wrt parameters: one array for one array, else a scalar per symbol.
        bare = len(wrt_params) == 1 and wrt_params[0].is_array and len(params) == 1
        if bare:
            vector_name = namer.claim(f"v_{wrt_params[0].name}")
            vector_params = [shapes.parameter(vector_name, wrt_params[0].shape)]
        else:
            vector_params = [shapes.scalar(symbol(namer.claim(f"v_{w.param}"))) for w in wrt_nodes]
        vector = shapes.flat(vector_params)
        d = Differentiator()
        (value,) = d.prepare([output], graph_order)
        products = d.hvp(d.gradient(value, wrt_nodes), wrt_nodes, vector)
        slots = [f"{{{i}}}" for i in range(len(products))]
        returns = shapes.packed_text(slots, wrt_params[0].shape) if bare else tuple_text(slots)
        signature_params = [*params, *vector_params]
        emitted = emit_function(
            f"{name}_hvp", [*symbols, *vector],
            [Section("hessian-vector product (forward mode over the reverse-mode gradient)", "t", products,
                     [f"hv_{identifier(w.param)}" for w in wrt_nodes])],
            returns,
            header=lambda names: f"hessian of {to_text(output, limit=60, names=names)} times "
                                 f"({', '.join(names[v] for v in vector[:8])})",
            signature=signature_params if any(p.is_array for p in signature_params) else None,
        )
        program = run(emitted, [*symbols, *vector], "hvp")
        return HVPFunction(program, len(params), len(wrt_nodes), products, bare)
