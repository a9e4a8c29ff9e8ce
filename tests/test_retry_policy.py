"""bot/retry.py on its own: the delay bounds, jitter, Retry-After, the cap, and the retry loop."""

import random
from datetime import timedelta

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.retry import RetryPolicy, retry_call
from bot.telegram.delivery import DeliveryFailed, with_retries


def test_waits_grow_by_the_factor_up_to_the_cap_without_jitter():
    p = RetryPolicy(base=0.5, factor=2.0, cap=5.0, jitter=0.0)
    assert [p.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert RetryPolicy(base=1.0, factor=3.0, cap=100.0).delay(2) == 9.0


def test_the_cap_holds_for_any_attempt_number():
    p = RetryPolicy(base=10.0, cap=900.0, jitter=1.0)
    assert p.delay(10_000) <= 900.0  # no OverflowError, no inf
    assert p.step(10_000) == 900.0


@pytest.mark.parametrize("jitter", [0.0, 0.25, 0.5, 1.0])
def test_jitter_stays_in_its_range(jitter):
    p = RetryPolicy(base=1.0, cap=8.0, jitter=jitter, rand=random.Random(7).random)
    for attempt in range(6):
        step = p.step(attempt)
        waits = [p.delay(attempt) for _ in range(500)]
        assert all(step * (1 - jitter) <= w <= step for w in waits)
        if jitter:
            assert max(waits) - min(waits) > step * jitter * 0.9  # the whole range is used


def test_jitter_ends_are_the_ends_of_the_range():
    low = RetryPolicy(base=1.0, jitter=0.5, rand=lambda: 0.0)
    high = RetryPolicy(base=1.0, jitter=0.5, rand=lambda: 1.0)
    assert (low.delay(1), high.delay(1)) == (1.0, 2.0)


def test_retry_after_wins_over_the_computed_wait():
    p = RetryPolicy(base=1.0, cap=2.0, jitter=0.5)
    assert p.delay(0, retry_after=7) == 7.0  # longer than the cap: the server knows best
    assert p.delay(5, retry_after=0.1) == 0.1  # shorter than the step
    assert p.delay(0, retry_after=timedelta(seconds=3)) == 3.0  # PTB's RetryAfter may give a timedelta
    assert p.delay(0, retry_after=-1) == 0.0


def test_gives_up_after_the_attempts_or_a_too_long_retry_after():
    p = RetryPolicy(attempts=3, max_retry_after=10.0)
    assert [p.gives_up(n) for n in range(4)] == [False, False, True, True]
    assert not p.gives_up(0, retry_after=10.0)
    assert p.gives_up(0, retry_after=10.5)
    assert p.gives_up(0, retry_after=timedelta(minutes=5))
    assert RetryPolicy(attempts=1).gives_up(0)  # one try, no retry


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"attempts": 0}, "attempts"), ({"base": -1.0}, "base <= cap"), ({"base": 9.0, "cap": 8.0}, "base <= cap"),
    ({"factor": 0.5}, "factor"), ({"jitter": 1.5}, "jitter"), ({"jitter": -0.1}, "jitter")])
def test_nonsense_is_refused(kwargs, error):
    with pytest.raises(ValueError, match=error):
        RetryPolicy(**kwargs)


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_loop_retries_transient_errors_with_the_policy_waits():
    call, sleeps, seen = Flaky(OSError("a"), OSError("b")), Sleeps(), []
    p = RetryPolicy(attempts=4, base=1.0, jitter=0.0)
    result = await retry_call(call, p, retryable=lambda e: isinstance(e, OSError), sleep=sleeps,
                              on_retry=lambda exc, attempt, wait: seen.append((str(exc), attempt, wait)))
    assert result == "ok" and call.calls == 3
    assert sleeps == [1.0, 2.0] and seen == [("a", 0, 1.0), ("b", 1, 2.0)]


async def test_loop_raises_the_last_error_when_the_attempts_are_spent():
    call, sleeps = Flaky(*[OSError(str(n)) for n in range(5)]), Sleeps()
    with pytest.raises(OSError, match="2"):
        await retry_call(call, RetryPolicy(attempts=3), retryable=lambda e: True, sleep=sleeps)
    assert call.calls == 3 and len(sleeps) == 2


async def test_loop_raises_at_once_what_is_not_retryable():
    call, sleeps = Flaky(ValueError("bad")), Sleeps()
    with pytest.raises(ValueError, match="bad"):
        await retry_call(call, RetryPolicy(), retryable=lambda e: isinstance(e, OSError), sleep=sleeps)
    assert call.calls == 1 and sleeps == []


async def test_loop_honours_retry_after_and_gives_up_on_a_long_one():
    class Limited(Exception):
        def __init__(self, after: float) -> None:
            self.after = after

    call, sleeps = Flaky(Limited(3.0), Limited(120.0)), Sleeps()
    with pytest.raises(Limited) as info:
        await retry_call(call, RetryPolicy(attempts=5, max_retry_after=60.0), retryable=lambda e: True,
                         retry_after=lambda e: getattr(e, "after", None), sleep=sleeps)
    assert info.value.after == 120.0 and sleeps == [3.0] and call.calls == 2


# --- Telegram sends (bot/telegram/delivery.py) use the same loop --------------------------------

FAST = RetryPolicy(attempts=3, base=0.001, max_retry_after=5)
# PTB warns on RetryAfter(int) itself (retry_after becomes a timedelta in a future major version)
PTB_INT_RETRY_AFTER = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


@pytest.mark.parametrize("error, reason, calls", [
    (TimedOut, "timed_out", 3), (lambda: NetworkError("reset"), "network", 3),
    (lambda: RetryAfter(0), "retry_after", 3),
    (lambda: RetryAfter(30), "retry_after", 1),  # a flood wait over max_retry_after fails at once
    (lambda: Forbidden("blocked"), "forbidden", 1), (lambda: BadRequest("chat not found"), "bad_request", 1),
    (lambda: TelegramError("other"), "telegram", 1)])
@PTB_INT_RETRY_AFTER
async def test_telegram_errors_are_retried_or_not_and_named(error, reason, calls):
    errors = [error() for _ in range(5)]
    call = Flaky(*errors)
    with pytest.raises(DeliveryFailed) as info:
        await with_retries(call, FAST)
    assert info.value.reason == reason and info.value.error is errors[calls - 1] and call.calls == calls


@PTB_INT_RETRY_AFTER
async def test_telegram_send_succeeds_after_passing_errors():
    call = Flaky(TimedOut(), RetryAfter(0))
    assert await with_retries(call, FAST) == "ok" and call.calls == 3


def test_telegram_defaults_are_unchanged():
    assert [RetryPolicy().delay(n) for n in range(3)] == [0.25, 0.5, 1.0]
    assert RetryPolicy().attempts == 4 and RetryPolicy().max_retry_after == 60.0


# --- The handoff outbox stores now + delay for its relays ----------------------------------------

def test_relay_schedule_is_the_one_it_always_was():
    from bot.handoff.outbox import RELAY_RETRY

    for tried_before in range(12):  # relay.attempts when the try fails
        assert RELAY_RETRY.delay(tried_before) == min(5 * 2 ** (tried_before + 1), 900)
    assert RELAY_RETRY.delay(3, timedelta(hours=2)) == 7200.0  # flood control is honoured however long
    assert not RELAY_RETRY.gives_up(0, retry_after=7200)
