"""Circuit breaker with half-open probing and backoff.

After `threshold` consecutive failures the circuit opens: calls fail fast (`CircuitOpen`, which
says how long until the next probe) for `cooldown` seconds. Then it is half-open: one probe call
goes through. The probe's success closes the circuit; its failure opens it again for twice the
last cool-down, up to `max_cooldown`. So a short outage costs seconds after Ozon recovers, and a
long one costs one probe call per `max_cooldown` seconds (settings OZON_BREAKER_*). `changed()`
lets a caller wait for the probe's outcome instead of failing at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.orders.ozon.errors import CircuitOpen


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown: float = 1.0, *, max_cooldown: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.threshold, self.base_cooldown, self._clock = threshold, cooldown, clock
        self.max_cooldown = max(cooldown, max_cooldown if max_cooldown is not None else cooldown)
        self.cooldown = cooldown  # the current one: doubles after each failed probe
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._change: asyncio.Event | None = None  # set when a probe ends (made on first wait)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.remaining() == 0 else "open"

    def remaining(self) -> float:
        """Seconds until the next probe may go out (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown - self._clock())

    def check(self) -> None:
        """Raise CircuitOpen unless a call may go out now (closed, or the one probe of half-open)."""
        if self._opened_at is None:
            return
        wait = self.remaining()
        if wait == 0 and not self._probing:
            self._probing = True
            return
        raise CircuitOpen(f"Ozon Seller API calls suspended after {self._failures} consecutive failures",
                          retry_after=wait or None)

    def success(self) -> None:
        was_open = self._opened_at is not None
        self._failures, self._opened_at, self._probing = 0, None, False
        self.cooldown = self.base_cooldown
        if was_open:
            self._notify()

    def failure(self) -> None:
        self._failures += 1
        if self._probing:  # the probe failed: open again, for longer
            self._probing = False
            self.cooldown = min(self.max_cooldown, self.cooldown * 2)
            self._opened_at = self._clock()
            self._notify()
        elif self._opened_at is None and self._failures >= self.threshold:
            self._opened_at = self._clock()
        # a call sent before the circuit opened and failing now tells nothing new: the cool-down stands

    def abandon(self) -> None:
        """The call ended without an answer either way (cancelled): free the probe slot."""
        if self._probing:
            self._probing = False
            self._notify()

    async def changed(self, seconds: float, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Wait until a probe ends (the circuit closes, or opens again) or `sleep(seconds)` returns."""
        if self._change is None:
            self._change = asyncio.Event()
        waits = [asyncio.ensure_future(self._change.wait()), asyncio.ensure_future(sleep(seconds))]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _notify(self) -> None:
        if self._change is not None:
            self._change.set()
            self._change = None
