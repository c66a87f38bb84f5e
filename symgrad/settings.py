"""A process-wide on/off setting of the library, as the setters of ``symgrad`` expose them."""

from __future__ import annotations


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
