"""A short-lived cache that keeps expired values for outage fallback, and sharing of in-flight loads."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Values fresh for `ttl` seconds; older ones are kept, as stale, until `max_entries` evicts them."""

    def __init__(self, ttl: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self._clock = ttl, max_entries, clock
        self._items: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get(self, key: Hashable, *, stale: bool = False) -> V | None:
        """The value if fresh (or any age when `stale`), else None."""
        item = self._items.get(key)
        if item is None or (not stale and self._clock() - item[0] >= self.ttl):
            return None
        return item[1]

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = (self._clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        self._items.pop(key, None)


class Coalescer:
    """Concurrent `run`s with the same key share one call. A waiter's cancellation does not cancel it."""

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future] = {}

    async def run(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Future) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited is not reported as lost
