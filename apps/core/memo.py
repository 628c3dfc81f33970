"""A web process's memory of answers that do not change once found.

Some lookups on the request path have answers that stay true once they are true: a bundle
digest this server issued for a finished session, the two parties of a session, a registered
long-term key's public key. ``Found`` remembers those answers for ``ttl`` seconds (``None``:
for the process's life), so a busy client's requests do not each ask the database again. A
miss is never remembered (it may be found later), and the memory is bounded: when full it
starts again empty, which costs one lookup per key and changes no answer.

Every use says in its docstring why its answers cannot change, and what a change written
straight to the database does (it shows after ``ttl``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Found(Generic[K, V]):
    def __init__(self, ttl: float | None, max_items: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.clock = clock  # tests move it
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def _fresh(self, key: K, now: float) -> tuple[bool, Any]:
        hit = self._items.get(key)
        if hit is None or (self.ttl is not None and now - hit[0] >= self.ttl):
            return False, None
        return True, hit[1]

    def many(self, keys: Iterable[K], fetch: Callable[[set[K]], Mapping[K, V]]) -> dict[K, V]:
        """The remembered answers for ``keys``, asking ``fetch`` (once) about the rest; a key
        ``fetch`` does not answer is a miss and is left out."""
        now = self.clock()
        out: dict[K, V] = {}
        missing: set[K] = set()
        for key in keys:
            known, value = self._fresh(key, now)
            if known:
                out[key] = value
            else:
                missing.add(key)
        if missing:
            found = dict(fetch(missing))
            self._keep(found, now)
            out.update(found)
        return out

    def one(self, key: K, fetch: Callable[[K], V | None]) -> V | None:
        """The answer for ``key``, asking ``fetch`` when it is not remembered; ``None`` is a miss."""
        now = self.clock()
        known, value = self._fresh(key, now)
        if known:
            return value
        value = fetch(key)
        if value is not None:
            self._keep({key: value}, now)
        return value

    def _keep(self, found: Mapping[K, V], now: float) -> None:
        if not found:
            return
        with self._lock:
            if len(self._items) + len(found) > self.max_items:
                self._items.clear()
            for key, value in found.items():
                self._items[key] = (now, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
