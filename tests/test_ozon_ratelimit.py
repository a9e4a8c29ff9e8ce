"""Rate caps, backoff and the circuit breaker, on their own."""

import asyncio
import time
from dataclasses import replace

import pytest

from bot.orders.numbers import OrderRef
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


async def test_caps_hold_at_the_server_while_the_event_loop_is_busy():
    """Ozon counts by arrival in 1-second windows: with the event loop stalled by other work (50-100 ms
    at a time), no call arrives over a cap at the fake Seller API, which counts as Ozon does."""
    import random

    from tests.fake_ozon import FBS_GET, FakeOzon, provider_for, sample

    rnd = random.Random(1)
    async with FakeOzon(caps={FBS_GET: 4}, global_cap=6) as fake:
        numbers = [f"3100000{i:02d}-0001-1" for i in range(30)]
        for n in numbers:
            fake.add(sample(n, status="delivering"))
        provider = provider_for(fake, fbs_get_rps=4, global_rps=6, read_returns=False)
        stop = asyncio.Event()

        async def busy() -> None:
            while not stop.is_set():
                time.sleep(rnd.uniform(0.05, 0.1))  # noqa: ASYNC251 - work that holds the loop, on purpose
                await asyncio.sleep(0.005)

        hog = asyncio.create_task(busy())
        try:
            found = await asyncio.wait_for(asyncio.gather(*(provider.find(OrderRef(n[:-2], n)) for n in numbers)), 30)
        finally:
            stop.set()
            await hog
            await provider.close()
    assert all(len(f) == 1 for f in found)
    assert fake.rejected == [], f"{len(fake.rejected)} calls arrived over a cap"
    assert fake.max_rps(FBS_GET) <= 4 and fake.max_rps() <= 6


class VirtualTime:
    """A clock and a `sleep` for the limiter: time moves only when every sleeper waits; the sleeps
    listed in `late` (by order of call) wake that much later than asked, as a busy event loop does."""

    def __init__(self, late: dict[int, float]) -> None:
        self.now, self.late, self.calls = 0.0, late, 0
        self._sleepers: list[tuple[float, asyncio.Future]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.calls += 1
        wake = self.now + seconds + self.late.get(self.calls, 0.0)
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((wake, future))
        await future

    async def run(self, *coros) -> list:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(10):
                await asyncio.sleep(0)
            if self._sleepers:
                self._sleepers.sort(key=lambda s: s[0])
                wake, future = self._sleepers.pop(0)
                self.now = max(self.now, wake)
                future.set_result(None)
        return [t.result() for t in tasks]


async def test_a_grant_is_stamped_when_the_waiter_leaves_not_when_its_turn_was_due():
    """The first waiter wakes 0.3 s late (a busy loop): the next one must still leave a whole window
    after it. Slots reserved ahead (the earlier design) let it leave 0.7 s after: 2 calls in 1 s."""
    vt = VirtualTime(late={1: 0.3})
    limiter = WindowLimiter(1, 1.0, clock=vt.clock, sleep=vt.sleep)
    left: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        left.append(vt.now)

    await asyncio.wait_for(vt.run(call(), call(), call()), 5)
    assert left[:2] == [0.0, 1.3]
    assert left[2] >= left[1] + 1.0, f"left at {left}: two calls within one window"
