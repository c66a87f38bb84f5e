"""A process-wide on/off setting of the library, as the setters of ``symgrad`` expose them; and the
one such setting compiling reads here: whether it pauses the cyclic GC."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


class Switch:
    """One setting, on or off; ``set`` returns the previous value, so a caller can put it back.

        >>> pause = Switch("set_gc_pause")
        >>> pause.set(False), bool(pause)
        (True, False)
    """

    __slots__ = ("_name", "_on")

    def __init__(self, name: str, on: bool = True) -> None:
        self._name = name  # the public setter's name, for errors
        self._on = on

    def __bool__(self) -> bool:
        return self._on

    def set(self, on: bool) -> bool:
        if not isinstance(on, bool):
            raise TypeError(f"{self._name} takes True or False, got {on!r}")
        previous, self._on = self._on, on
        return previous


_gc_pause = Switch("set_gc_pause")  # whether compiling pauses the cyclic GC


def set_gc_pause(enabled: bool = True) -> bool:
    """Whether compiling pauses Python's cyclic garbage collector (default: True); returns
    the previous setting.

    The pause is process-wide while it lasts: ``gc.disable()`` for the length of one
    ``sg.compile`` (or ``compile_hvp``), then the collector's previous state is restored
    (it is left off where it was off). Other threads of the process run without cyclic
    collections meanwhile. ``set_gc_pause(False)`` leaves the collector alone, at the
    cost of those collections (README, "What symgrad changes in your process").

        >>> import symgrad as sg
        >>> previous = sg.set_gc_pause(False)  # compiling never touches the collector
        >>> _ = sg.set_gc_pause(previous)
    """
    return _gc_pause.set(enabled)


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Pause the cyclic GC (unless ``set_gc_pause(False)``): the passes allocate millions of
    acyclic objects, and collections triggered by those allocations rescan the whole heap,
    over and over. Process-wide while it lasts;
    the collector's previous state is restored on leaving."""
    if not _gc_pause:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
