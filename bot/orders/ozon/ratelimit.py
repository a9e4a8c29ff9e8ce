"""Request-rate caps as Ozon counts them: a global one per Client-Id and per-method ones on top.

Ozon counts requests by arrival in 1-second windows. A token bucket of size N lets 2N calls through
across one second (a full bucket plus its refill), so each cap here is a sliding window instead: at
most `limit` grants in any `window` seconds, where `window` is one second plus headroom.

A grant is recorded at the moment the caller may send, not when it started waiting: reserving
slots ahead of time (the earlier design) let a waiter that the event loop woke late go out right
before the next one, and the server saw them bunched (29-61 429s in issue 13's measurement). Here
waiters queue in order (FIFO), the head re-reads the clock after every sleep, and the stamp is the
time it actually leaves. The headroom covers the time from the grant to the request's arrival
(event-loop delay before the request is written, network jitter).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

HEADROOM = 0.12  # seconds added to each window: grant-to-arrival delay must stay below it


class WindowLimiter:
    """At most `limit` grants in any `window` seconds, stamped when granted."""

    def __init__(self, limit: int, window: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._grants: deque[float] = deque(maxlen=limit)
        self._window, self._clock, self._sleep = window, clock, sleep
        self._not_before = 0.0
        self._queue = asyncio.Lock()  # FIFO: waiters are granted in arrival order

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

    def wait_time(self, now: float) -> float:
        """Seconds until a grant is possible (0: now)."""
        slot = self._not_before
        if len(self._grants) == self._grants.maxlen:
            slot = max(slot, self._grants[0] + self._window)
        return max(0.0, slot - now)

    def grant(self, now: float) -> None:
        self._grants.append(now)

    async def _ready(self) -> None:
        """Sleep until a grant is possible, re-reading the clock after each sleep."""
        while (wait := self.wait_time(self._clock())) > 0:
            await self._sleep(wait)

    async def acquire(self) -> None:
        async with self._queue:
            await self._ready()
            self.grant(self._clock())


class RateLimits:
    """The global cap plus per-path caps. A call first queues for its path's cap, then for the
    global one; both are stamped at the same moment, when both have room."""

    def __init__(self, global_rps: float, per_path: dict[str, float] | None = None) -> None:
        self.global_ = WindowLimiter.per_second(global_rps)
        self.paths = {path: WindowLimiter.per_second(rps) for path, rps in (per_path or {}).items()}

    async def acquire(self, path: str) -> None:
        own = self.paths.get(path)
        if own is None:
            await self.global_.acquire()
            return
        async with own._queue:  # the head of this path's queue ...
            await own._ready()
            async with self.global_._queue:  # ... then waits its turn for the global cap
                while True:
                    now = self.global_._clock()
                    wait = max(own.wait_time(now), self.global_.wait_time(now))
                    if wait <= 0:
                        break
                    await self.global_._sleep(wait)
                own.grant(now)
                self.global_.grant(now)

    def pause(self, path: str, seconds: float) -> None:
        """Hold back the method that was refused (or every method when it has no cap of its own)."""
        self.paths.get(path, self.global_).pause(seconds)
