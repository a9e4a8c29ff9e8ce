"""How long to wait before retrying a refused or failed call."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; a server's Retry-After wins when it gives one.

    `max_wait` is the longest Retry-After worth waiting for; beyond it the call fails at once
    (a 'Circle is open' lock lasts minutes, longer than a buyer waits).
    """

    base: float = 0.5
    cap: float = 8.0
    max_wait: float = 10.0
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds before retry number `attempt + 1`, or None when not worth waiting."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        step = min(self.cap, self.base * 2 ** attempt)
        return step / 2 + self.rand() * step / 2
