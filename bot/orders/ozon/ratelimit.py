"""Request-rate caps: a global one per Client-Id and per-method ones on top, never exceeded.

A token bucket of size N lets 2N calls through across one second (a full bucket plus its refill),
so each cap here is a sliding window instead: at most `limit` grants in any `window` seconds,
first come first served. A little headroom is added to the window for network jitter.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

HEADROOM = 0.05  # seconds added to each window, so jitter on the way cannot push us over


class WindowLimiter:
    """At most `limit` grants in any `window` seconds."""

    def __init__(self, limit: int, window: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._grants: deque[float] = deque(maxlen=limit)
        self._window, self._clock, self._sleep = window, clock, sleep
        self._not_before = 0.0

    @classmethod
    def per_second(cls, rps: float, *, headroom: float = HEADROOM) -> WindowLimiter:
        """A cap of `rps` calls a second (`floor(rps)` per second, or 1 per `1/rps` s below 1)."""
        if rps <= 0:
            raise ValueError("rps must be > 0")
        if rps >= 1:
            return cls(math.floor(rps), 1.0 + headroom)
        return cls(1, 1.0 / rps + headroom)

    def pause(self, seconds: float) -> None:
        """Grant nothing for the next `seconds` (after a 429 with Retry-After)."""
        self._not_before = max(self._not_before, self._clock() + seconds)

    async def acquire(self) -> None:
        now = self._clock()
        slot = max(now, self._not_before)
        if len(self._grants) == self._grants.maxlen:
            slot = max(slot, self._grants[0] + self._window)
        self._grants.append(slot)  # reserved before awaiting, so concurrent callers queue in order
        if slot > now:
            await self._sleep(slot - now)


class RateLimits:
    """The global cap plus per-path caps; a call waits for its path's cap first, then the global one."""

    def __init__(self, global_rps: float, per_path: dict[str, float] | None = None) -> None:
        self.global_ = WindowLimiter.per_second(global_rps)
        self.paths = {path: WindowLimiter.per_second(rps) for path, rps in (per_path or {}).items()}

    async def acquire(self, path: str) -> None:
        if path in self.paths:
            await self.paths[path].acquire()
        await self.global_.acquire()

    def pause(self, path: str, seconds: float) -> None:
        """Hold back the method that was refused (or every method when it has no cap of its own)."""
        self.paths.get(path, self.global_).pause(seconds)
