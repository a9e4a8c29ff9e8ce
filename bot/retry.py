"""One retry policy for every call the bot repeats: Ozon Seller API calls, Telegram sends, and the
persisted schedule of the handoff outbox.

`RetryPolicy.delay(attempt, retry_after)` is the wait after failed try number `attempt` (0 for the
first try): `base * factor**attempt`, capped at `cap`, of which the fraction `jitter` is drawn at
random (0: none; 0.5: "equal jitter", between half and all of the step; 1: "full jitter"). A
server's Retry-After wins over the computed step. `gives_up` says when to stop: after `attempts`
tries, or when a server asks for a longer wait than `max_retry_after`. `retry_call` is the loop for
calls retried in place; the outbox stores `now + delay(...)` in its records instead of sleeping.

Imports nothing from the bot: every layer may use it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

T = TypeVar("T")
Seconds = float | timedelta


def seconds(value: Seconds) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The defaults suit a quick interactive call (a Telegram send): 4 tries, 0.25 s doubling."""

    attempts: int = 4  # tries in all, the first one included
    base: float = 0.25  # the first wait, in seconds
    factor: float = 2.0  # each wait is `factor` times the one before...
    cap: float = 8.0  # ...up to `cap` seconds
    jitter: float = 0.0  # fraction of each wait drawn at random, 0..1
    max_retry_after: float = 60.0  # a server asking for a longer wait is not waited for: give up
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if not 0 <= self.base <= self.cap:
            raise ValueError(f"need 0 <= base <= cap, got base={self.base}, cap={self.cap}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def step(self, attempt: int) -> float:
        """The wait after try number `attempt` before jitter: base * factor**attempt, at most `cap`."""
        try:
            return min(self.cap, self.base * self.factor ** max(0, attempt))
        except OverflowError:
            return self.cap

    def delay(self, attempt: int, retry_after: Seconds | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (0 = the first) before the next one."""
        if retry_after is not None:
            return max(0.0, seconds(retry_after))
        step = self.step(attempt)
        return step * (1 - self.jitter) + step * self.jitter * self.rand()

    def gives_up(self, attempt: int, retry_after: Seconds | None = None) -> bool:
        """True when try number `attempt` was the last one, or the server wants too long a wait."""
        if attempt + 1 >= self.attempts:
            return True
        return retry_after is not None and seconds(retry_after) > self.max_retry_after


def _no_retry_after(exc: Exception) -> Seconds | None:
    return None


async def retry_call(call: Callable[[], Awaitable[T]], policy: RetryPolicy, *,
                     retryable: Callable[[Exception], bool],
                     retry_after: Callable[[Exception], Seconds | None] = _no_retry_after,
                     on_retry: Callable[[Exception, int, float], object] | None = None,
                     sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> T:
    """Await `call()` until it returns, or raise its last exception: at once when not `retryable`,
    or when the policy gives up. `on_retry(exc, attempt, wait)` runs before each wait."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not retryable(exc):
                raise
            after = retry_after(exc)
            if policy.gives_up(attempt, after):
                raise
            wait = policy.delay(attempt, after)
            if on_retry is not None:
                on_retry(exc, attempt, wait)
            await sleep(wait)
            attempt += 1
