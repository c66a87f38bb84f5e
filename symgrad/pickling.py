"""Loading symgrad objects from bytes you do not trust.

``pickle.loads`` runs whatever a pickle says. ``sg.loads`` and ``sg.load``
unpickle with a ``find_class`` that resolves only the names symgrad's own
pickles use (its two loaders and the classes of a compiled function's
statistics); the loaders check every graph record and stored field, and
generate the source again, so bytes written by an attacker can at worst be
refused (``SymgradError``)::

    >>> import pickle, symgrad as sg
    >>> x = sg.symbol("x")
    >>> sg.loads(pickle.dumps(sg.compile(x**2, wrt=[x])))(3.0)
    (9.0, (6.0,))
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

from symgrad.errors import SymgradError

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
