"""Loading symgrad objects from bytes you do not trust.

``pickle.loads`` runs whatever a pickle says. ``sg.loads`` and ``sg.load``
unpickle with a ``find_class`` that resolves only the names symgrad's own
pickles use (its two loaders and the classes of a compiled function's
statistics); the loaders check every graph record and stored field (a compiled
function's: ``check_compiled_state``, here), and generate the source again, so
bytes written by an attacker can at worst be refused (``SymgradError``)::

    >>> import pickle, symgrad as sg
    >>> x = sg.symbol("x")
    >>> sg.loads(pickle.dumps(sg.compile(x**2, wrt=[x])))(3.0)
    (9.0, (6.0,))
"""

from __future__ import annotations

import io
import math
import pickle
import reprlib
from collections.abc import Callable
from typing import IO, Any

from symgrad.arrays import REDUCTIONS
from symgrad.backends import BACKENDS
from symgrad.errors import SymgradError
from symgrad.expr import Expr
from symgrad.pipeline import STRATEGIES, CompileStats
from symgrad.shapes import Parameter
from symgrad.simplify import REWRITES

# Every global a pickle of an Expr or a CompiledFunction names (pickle protocol 2 and later).
_ALLOWED = frozenset({
    ("symgrad.expr", "_rebuild"),
    ("symgrad.compiler", "_restore"),
    ("symgrad.pipeline", "CompileStats"),
    ("symgrad.compiler", "CompileStats"),  # where pickles made before it moved name it
    ("symgrad.simplify", "RewriteStats"),
    ("collections", "Counter"),
})


class _SymgradUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise SymgradError(f"refusing to unpickle {module}.{name}: sg.loads reads only symgrad's own "
                               "expressions and compiled functions")
        return super().find_class(module, name)


def load(file: IO[bytes]) -> Any:
    """The symgrad expression or compiled function pickled in ``file``, read as untrusted data."""
    try:
        return _SymgradUnpickler(file).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, TypeError, ValueError) as error:
        if isinstance(error, SymgradError):
            raise
        raise SymgradError(f"refusing to unpickle: not a valid symgrad pickle ({type(error).__name__}: {error})") \
            from None


def loads(data: bytes) -> Any:
    """The symgrad expression or compiled function pickled in ``data``, read as untrusted data."""
    return load(io.BytesIO(data))


# What each field of a pickled compiled function may hold (anything else is refused before use).
_STATE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "graph": lambda v: type(v) is tuple and len(v) == 2,
    **{count: lambda v: type(v) is int and v >= 0 for count in ("n_outputs", "n_derived", "n_wrt", "n_params")},
    "order": lambda v: type(v) is int and v in (1, 2),
    "outputs": lambda v: type(v) is str and v in ("one", "list", "array"),
    "output_shape": lambda v: _is_shape(v),
    "bare_gradient": lambda v: type(v) is bool,
    "strategy": lambda v: type(v) is str and v in STRATEGIES,
    **{field: lambda v: type(v) is list and all(type(p) in (tuple, list) and len(p) == 2 and type(p[0]) is str
                                                and _is_shape(p[1]) for p in v)
       for field in ("wrt_shapes", "param_shapes")},
    "annotate": lambda v: type(v) is bool,
    "backend": lambda v: type(v) is str and v in BACKENDS,
    "batch": lambda v: type(v) is list and all(type(b) is str and b for b in v),
    "reduce": lambda v: v is None or (type(v) is str and v in REDUCTIONS),
    "name": lambda v: type(v) is str,
    "source": lambda v: type(v) is str,
    "stats": lambda v: isinstance(v, CompileStats),
}


def _is_shape(value: Any) -> bool:
    return type(value) is list and all(type(d) is int and d >= 1 for d in value)


def check_compiled_state(state: Any) -> None:
    """Refuse (``SymgradError``) the state of a pickled compiled function unless every field holds what it may."""
    if type(state) is not dict:
        raise SymgradError(f"refusing to load a compiled function: its state is a {type(state).__name__}, not a dict")
    for key, valid in _STATE_FIELDS.items():
        if key not in state or not valid(state[key]):
            raise SymgradError(f"refusing to load a compiled function: its field {key!r} is missing or not valid "
                               f"({reprlib.repr(state.get(key))})")
    rewrites = state.get("rewrites", "all")  # absent from pickles made before the option
    if type(rewrites) is not str or rewrites not in REWRITES:
        raise SymgradError(f"refusing to load a compiled function: its field 'rewrites' is not valid "
                           f"({reprlib.repr(rewrites)})")


def stored_parameters(symbols: list[Expr], stored: list[tuple[str, list[int]]]) -> list[Parameter]:
    """Stored parameters (name and shape) over their symbols, in order."""
    found, rest = [], iter(symbols)
    for name, shape in stored:
        elements = tuple(next(rest) for _ in range(math.prod(shape)))
        found.append(Parameter(name, tuple(shape), elements))
    if next(rest, None) is not None:
        raise ValueError("more symbols than parameters")
    return found
