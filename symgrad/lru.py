"""The one cache: a bounded, thread-safe LRU (compiled functions, HVPs, Value graph shapes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_Value = TypeVar("_Value")


class LRUCache(Generic[_Value]):
    """At most ``size`` entries, the least recently used dropped first; safe to share between threads.

    ``stats`` counts ``hits`` and ``misses`` of ``get`` (one dict, updated in place, so a module
    may expose it as is).

        >>> cache: LRUCache[int] = LRUCache(1)
        >>> cache.put("a", 1), cache.put("a", 2), cache.get("a")
        (1, 1, 1)
        >>> cache.put("b", 3), cache.get("a"), cache.stats
        (3, None, {'hits': 1, 'misses': 1})
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self.stats = {"hits": 0, "misses": 0}
        self._entries: OrderedDict[Hashable, _Value] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> _Value | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.stats["misses"] += 1
            else:
                self.stats["hits"] += 1
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: _Value) -> _Value:
        """Store ``value`` under ``key`` and return it, or return what another thread stored first."""
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:
                return existing
            self._entries[key] = value
            self._trim()
            return value

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            self._trim()

    def clear(self) -> None:
        """Forget every entry, and the counts."""
        with self._lock:
            self._entries.clear()
            self.stats["hits"] = self.stats["misses"] = 0

    def _trim(self) -> None:
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def memoised(store: LRUCache[_Value], key: Hashable | None, make: Callable[[], _Value]) -> _Value:
    """What ``store`` holds under ``key``, else ``make()``, stored (no key: made, not stored)."""
    if key is None:
        return make()
    found = store.get(key)
    if found is not None:
        return found
    return store.put(key, make())
