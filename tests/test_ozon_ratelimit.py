"""Rate caps, backoff and the circuit breaker, on their own."""

import asyncio
import time
from dataclasses import replace

import pytest

from bot.orders.ozon.breaker import CircuitBreaker
from bot.orders.ozon.errors import CircuitOpen
from bot.orders.ozon.provider import OZON_RETRY
from bot.orders.ozon.ratelimit import RateLimits, WindowLimiter


def max_in_window(times, window=1.0):
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


async def test_window_limiter_never_exceeds_its_cap():
    limiter = WindowLimiter(5, 0.2)
    stamps = []

    async def one():
        await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(23))), 3)
    assert max_in_window(stamps, 0.19) <= 5  # wake-up jitter only; per_second() adds headroom for it
    assert stamps[-1] - stamps[0] >= 0.8  # 23 grants at 5 per 0.2 s need 4 more windows


async def test_pause_holds_back_new_grants():
    limiter = WindowLimiter(100, 1.0)
    limiter.pause(0.15)
    start = time.monotonic()
    await asyncio.wait_for(limiter.acquire(), 1)
    assert time.monotonic() - start >= 0.14


async def test_per_path_cap_applies_on_top_of_the_global_one():
    limits = RateLimits(50.0, {"/slow": 0.5})
    assert limits.paths["/slow"]._grants.maxlen == 1  # 1 call per 2 s (+ headroom)
    await asyncio.wait_for(limits.acquire("/slow"), 1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(limits.acquire("/slow"), 0.3)
    await asyncio.wait_for(limits.acquire("/fast"), 1)


def test_per_second_rejects_nonsense():
    with pytest.raises(ValueError, match="rps must be > 0"):
        WindowLimiter.per_second(0)


def test_backoff_grows_with_jitter_and_honours_retry_after():
    b = replace(OZON_RETRY, base=1.0, rand=lambda: 0.5)
    assert [b.delay(n) for n in range(5)] == [0.75, 1.5, 3.0, 6.0, 6.0]
    assert replace(OZON_RETRY, rand=lambda: 0.0).delay(0) == 0.25
    assert replace(OZON_RETRY, rand=lambda: 1.0).delay(0) == 0.5
    assert b.delay(0, retry_after=4.0) == 4.0 and not b.gives_up(0, retry_after=4.0)
    assert b.gives_up(0, retry_after=120.0)  # 'Circle is open' for minutes: do not wait


def test_breaker_opens_after_threshold_then_probes_once():
    now = [0.0]
    b = CircuitBreaker(threshold=3, cooldown=10.0, clock=lambda: now[0])
    for _ in range(3):
        b.check()
        b.failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpen) as info:
        b.check()
    assert info.value.retry_after == 10.0  # how long until the probe
    now[0] = 10.0
    b.check()  # the probe
    with pytest.raises(CircuitOpen) as info:
        b.check()  # only one probe at a time
    assert info.value.retry_after is None
    b.failure()
    assert b.state == "open"
    now[0] = 30.0
    b.check()
    b.success()
    assert b.state == "closed"
    b.check()


def test_failed_probes_back_off_up_to_the_max_and_success_resets():
    now = [0.0]
    b = CircuitBreaker(threshold=1, cooldown=1.0, max_cooldown=5.0, clock=lambda: now[0])
    b.failure()
    waits = []
    for _ in range(5):  # every probe fails: 1 s, then 2, 4, 5, 5
        waits.append(b.remaining())
        now[0] += b.remaining()
        b.check()
        b.failure()
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    now[0] += b.remaining()
    b.check()
    b.success()
    b.failure()  # the next outage starts again from the short cool-down
    assert b.remaining() == 1.0


def test_a_failure_of_a_call_sent_before_opening_does_not_extend_the_cool_down():
    now = [0.0]
    b = CircuitBreaker(threshold=2, cooldown=2.0, clock=lambda: now[0])
    b.failure()
    b.failure()
    now[0] = 1.5
    b.failure()  # an old call timing out now
    assert b.remaining() == 0.5


def test_abandoned_probe_frees_the_slot():
    now = [0.0]
    b = CircuitBreaker(threshold=1, cooldown=1.0, clock=lambda: now[0])
    b.failure()
    now[0] = 1.0
    b.check()
    b.abandon()
    b.check()
