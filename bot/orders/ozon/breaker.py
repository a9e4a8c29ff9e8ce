"""Circuit breaker: after `threshold` consecutive failures, fail fast for `reset_after` seconds,
then let one probe through; its success closes the circuit, its failure opens it again."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.orders.ozon.errors import CircuitOpen


class CircuitBreaker:
    def __init__(self, threshold: int = 5, reset_after: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.reset_after, self._clock = threshold, reset_after, clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_after else "open"

    def check(self) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probing:
            self._probing = True
            return
        raise CircuitOpen(f"Ozon Seller API calls suspended after {self._failures} consecutive failures")

    def success(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False

    def abandon(self) -> None:
        """The call ended without an answer either way (cancelled): free the probe slot."""
        self._probing = False
