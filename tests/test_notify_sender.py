"""The proactive sender against a fake Bot API that enforces Telegram's limits by arrival and
answers 429 above them (tests/fake_limited.py), with the real PTB Bot doing HTTP on loopback."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.notify.records import FAILED, SENDING, SENT, NotifyRecords
from bot.notify.records_pg import PgNotifyRecords
from bot.notify.records_sqlite import SqliteNotifyRecords
from bot.notify.sender import Limits, Sender
from bot.retry import RetryPolicy
from tests.fake_limited import LimitedTelegram
from tests.fake_telegram import TOKEN

QUICK = RetryPolicy(base=0.05, cap=0.2, max_retry_after=float("inf"))


@pytest.fixture
async def records(tmp_path) -> AsyncIterator[SqliteNotifyRecords]:
    r = SqliteNotifyRecords(tmp_path / "n.sqlite3")
    yield r
    await r.close()


async def _bot(fake: LimitedTelegram) -> Bot:
    bot = Bot(TOKEN, base_url=fake.api_base)
    await bot.initialize()
    return bot


async def _queue(records: NotifyRecords, chats: list[int], prefix: str = "m") -> None:
    for i, chat in enumerate(chats):
        await records.enqueue(f"{prefix}{i}", chat, {"text": f"{prefix}{i}", "buttons": [[["A", "k|order|1"]]]},
                              time.time())


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_paced_below_30_per_second_no_429_nothing_lost_or_twice(records) -> None:
    async with LimitedTelegram(per_second=30) as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records)  # the defaults: 25/s, 1.1 s a chat
        await _queue(records, list(range(1000, 1060)))
        started = time.perf_counter()
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        took = time.perf_counter() - started
        await sender.stop()
        await bot.shutdown()
    assert fake.too_many == 0
    assert sorted(t for texts in fake.delivered.values() for t in texts) == sorted(f"m{i}" for i in range(60))
    assert all(len(texts) == 1 for texts in fake.delivered.values())
    assert took >= 59 / 25 * 0.95, "paced, not burst"
    assert (await records.counts())[SENT] == 60
    arrivals = fake.accepted_at
    assert max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals) <= 30


async def test_a_sender_faster_than_the_limit_waits_on_429_and_still_sends_each_once(records) -> None:
    async with LimitedTelegram(per_second=30, retry_after=1) as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records, limits=Limits(per_second=200, chat_seconds=1.1), retry=QUICK)
        await _queue(records, list(range(2000, 2050)))
        sender.start()
        await asyncio.wait_for(sender.idle(), 30)
        await sender.stop()
        await bot.shutdown()
    assert fake.too_many > 0 and sender.figures.flood_waits == fake.too_many
    assert sorted(t for texts in fake.delivered.values() for t in texts) == sorted(f"m{i}" for i in range(50))
    rows = await records.outbox()
    assert all(o.status == SENT and o.attempts == 1 for o in rows), "a flood wait gives the attempt back"


async def test_one_chat_gets_one_message_a_second_in_order(records) -> None:
    async with LimitedTelegram(per_second=30, chat_seconds=1.0) as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records)
        await _queue(records, [77] * 4 + [78, 79])
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    assert fake.too_many == 0
    assert fake.delivered[77] == ["m0", "m1", "m2", "m3"], "in the order queued"
    times = [c.at for c in fake.calls_of("sendMessage", 77)]
    assert min(_gaps(times)) >= 1.0
    assert fake.delivered[78] == ["m4"] and fake.delivered[79] == ["m5"]
    assert fake.calls_of("sendMessage", 78)[0].at < times[1], "other chats do not wait behind a busy one"


async def test_a_group_gets_at_most_its_per_minute_budget(records) -> None:
    # Scaled: the fake allows 60 a minute to a group, the sender keeps to 55 (the defaults are 20 and 19).
    async with LimitedTelegram(per_second=30, group_per_minute=60) as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records, limits=Limits(group_per_minute=55))
        await _queue(records, [-100123] * 3)
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    assert fake.too_many == 0 and fake.delivered[-100123] == ["m0", "m1", "m2"]
    # decided 60/55 s apart; arrivals jitter by milliseconds, but never under the fake's 60/60
    assert min(_gaps([c.at for c in fake.calls_of("sendMessage", -100123)])) >= 1.0


async def test_a_buyer_who_blocked_the_bot_has_the_watch_ended(records) -> None:
    await records.watch("555", "111-0001-1", "111-0001", "ru", 1.0)
    await records.watch("556", "111-0001-1", "111-0001", "ru", 1.0)
    async with LimitedTelegram() as fake:
        fake.blocked.add(555)
        bot = await _bot(fake)
        sender = Sender(bot, records)
        await _queue(records, [555, 555, 556])
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    assert await records.watches("555") == [], "the watch ended"
    assert [w.chat_id for w in await records.watchers("111-0001-1")] == ["556"]
    statuses = [(o.chat_id, o.status) for o in await records.outbox()]
    assert statuses == [(555, FAILED), (555, FAILED), (556, SENT)]
    tried = [c for c in fake.calls if c.method == "sendMessage" and c.params["chat_id"] == 555]
    assert [c.status for c in tried] == [403], "the second message to a blocked buyer is not tried"
    assert sender.figures.blocked == 1


async def test_server_errors_are_retried_and_bad_requests_fail(records) -> None:
    async with LimitedTelegram() as fake:
        fake.fail("sendMessage", 502, times=2, when=lambda p: p["chat_id"] == 10)
        fake.fail("sendMessage", 400, "Bad Request: chat not found", when=lambda p: p["chat_id"] == 11)
        bot = await _bot(fake)
        sender = Sender(bot, records, retry=QUICK)
        await _queue(records, [10, 11])
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    a, b = await records.outbox()
    assert (a.status, a.attempts) == (SENT, 3) and fake.delivered[10] == ["m0"]
    assert b.status == FAILED and "chat not found" in b.error.lower()


async def test_a_restart_sends_what_was_left_mid_send(records) -> None:
    await _queue(records, [31, 32])
    first = (await records.due(time.time()))[0]
    assert await records.claim(first.id)  # the process died after claiming, before the call
    async with LimitedTelegram() as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records)
        sender.start()
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    assert fake.delivered[31] == ["m0"] and fake.delivered[32] == ["m1"]


async def test_idle_sender_wakes_at_once_for_new_work(records) -> None:
    async with LimitedTelegram() as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records, poll_seconds=30)
        sender.start()
        await asyncio.sleep(0.1)
        await _queue(records, [41])
        queued = time.perf_counter()
        sender.wake()
        await fake.wait_for(lambda: fake.delivered.get(41), timeout=5)
        assert time.perf_counter() - queued < 1.0
        await sender.stop()
        await bot.shutdown()


async def test_only_the_leader_sends(records) -> None:
    async with LimitedTelegram() as fake:
        bot = await _bot(fake)
        sender = Sender(bot, records, poll_seconds=0.05)
        leading = [False]
        sender.leader = lambda: leading[0]
        await _queue(records, [51, 52])
        sender.start()
        await asyncio.sleep(0.3)
        assert not fake.delivered, "another process leads: this one sends nothing"
        leading[0] = True
        await asyncio.wait_for(sender.idle(), 10)
        await sender.stop()
        await bot.shutdown()
    assert fake.delivered[51] == ["m0"] and fake.delivered[52] == ["m1"]


async def test_a_new_leader_sends_what_the_old_one_left_mid_send_once_its_lease_ran_out(pg_url) -> None:
    """PostgreSQL, several processes: the old leader claimed a message and died (or is dying) before
    sending it. The new leader's sender leaves it alone while the old claim's lease runs (the old one
    might still send it), then sends it, once, without a restart."""
    old, new = PgNotifyRecords(pg_url, lease=5.0), PgNotifyRecords(pg_url, lease=5.0)
    await _queue(old, [61, 62])
    first = (await old.due(time.time()))[0]
    assert await old.claim(first.id)
    async with LimitedTelegram() as fake:
        bot = await _bot(fake)
        sender = Sender(bot, new, poll_seconds=0.05, release_every=0.1)
        sender.start()
        await fake.wait_for(lambda: fake.delivered.get(62), timeout=10)
        left = await new.outbound("m0")
        assert left and (left.status, left.attempts) == (SENDING, 1), "the old claim's lease runs: left alone"
        assert 61 not in fake.delivered
        await asyncio.wait_for(sender.idle(), 20)
        await sender.stop()
        await bot.shutdown()
    assert fake.delivered[61] == ["m0"] and fake.delivered[62] == ["m1"]
    assert [(o.status, o.attempts) for o in await new.outbox()] == [(SENT, 2), (SENT, 1)]
    await old.close()
    await new.close()
