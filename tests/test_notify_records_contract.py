"""One contract, every backend: the proactive messages' records in memory, in SQLite and in
PostgreSQL (a real server the test session starts, tests/pg_server.py) behave the same. The SQLite
one keeps its rows across a reopen; PostgreSQL ones shared by several processes claim each message
once and hand back only what a dead sender left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.notify.records import FAILED, PENDING, SENDING, SENT, NotifyRecords
from bot.notify.records_memory import MemoryNotifyRecords
from bot.notify.records_pg import PgNotifyRecords
from bot.notify.records_sqlite import SqliteNotifyRecords


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def records(request, tmp_path) -> AsyncIterator[NotifyRecords]:
    r: NotifyRecords
    if request.param == "postgresql":
        # lease 0: a message caught mid-send is its dead sender's at once, as after a restart (several
        # processes keep the lease: the tests at the end)
        r = PgNotifyRecords(request.getfixturevalue("pg_url"), lease=0.0)
    else:
        r = MemoryNotifyRecords() if request.param == "memory" else SqliteNotifyRecords(tmp_path / "n.sqlite3")
    yield r
    await r.close()


async def test_watch_once_per_buyer_and_posting(records: NotifyRecords) -> None:
    assert await records.watch("1", "111-0001-1", "111-0001", "ru", 10.0)
    assert not await records.watch("1", "111-0001-1", "111-0001", "zh", 11.0), "a second watch changes nothing"
    assert await records.watch("2", "111-0001-1", "111-0001", "zh", 12.0)
    assert await records.watch("1", "222-0002-1", "222-0002", "ru", 13.0)
    assert [w.chat_id for w in await records.watchers("111-0001-1")] == ["1", "2"]
    mine = await records.watches("1")
    assert [(w.posting_number, w.lang, w.since, w.last_rank, w.last_at) for w in mine] == [
        ("111-0001-1", "ru", 10.0, -1, 0.0), ("222-0002-1", "ru", 13.0, -1, 0.0)]
    assert await records.watchers("999") == []


async def test_unwatch_one_or_all(records: NotifyRecords) -> None:
    for posting in ("a", "b", "c"):
        await records.watch("1", posting, "o", "ru", 1.0)
    await records.watch("2", "a", "o", "ru", 1.0)
    assert await records.unwatch("1", "b") == 1
    assert await records.unwatch("1", "b") == 0
    assert await records.unwatch("1") == 2
    assert await records.watches("1") == []
    assert [w.chat_id for w in await records.watchers("a")] == ["2"], "another buyer's watch stays"


async def test_advance_never_goes_backwards(records: NotifyRecords) -> None:
    await records.watch("1", "p", "o", "ru", 1.0)
    assert await records.advance("1", "p", 5, 100.0)
    assert await records.advance("1", "p", 5, 100.0), "the same change again: a replay (the outbox dedupes)"
    assert not await records.advance("1", "p", 3, 200.0), "a lower rank is older, whatever its time"
    assert not await records.advance("1", "p", 5, 90.0), "the same rank at an earlier moment is older"
    assert await records.advance("1", "p", 5, 150.0)
    assert await records.advance("1", "p", 7, 120.0), "a higher rank moves on even with an earlier stamp"
    w = (await records.watches("1"))[0]
    assert (w.last_rank, w.last_at) == (7, 150.0)
    assert not await records.advance("2", "p", 9, 1.0), "no watch: nothing to advance"


async def test_enqueue_once_per_key_forever(records: NotifyRecords) -> None:
    first = await records.enqueue("k1", 42, {"text": "hi", "buttons": [[["A", "a"]]]}, 5.0)
    assert first is not None
    assert await records.enqueue("k1", 42, {"text": "again"}, 6.0) is None
    o = await records.outbound("k1")
    assert o is not None and o.payload == {"text": "hi", "buttons": [[["A", "a"]]]} and o.status == PENDING
    assert await records.claim(first)
    await records.mark_sent(first, 777, 7.0)
    assert await records.enqueue("k1", 42, {"text": "after sent"}, 8.0) is None, "a sent key is never queued again"
    o = await records.outbound("k1")
    assert o is not None and o.status == SENT and o.message_id == 777 and o.attempts == 1


async def test_due_order_limit_and_claim(records: NotifyRecords) -> None:
    ids = [await records.enqueue(f"k{i}", 1, {"text": str(i)}, float(i)) for i in range(5)]
    assert [o.id for o in await records.due(2.0)] == ids[:3]
    assert [o.id for o in await records.due(10.0, limit=2)] == ids[:2]
    assert await records.claim(ids[0]) and not await records.claim(ids[0]), "claimed once"
    assert ids[0] not in [o.id for o in await records.due(10.0)]
    await records.postpone(ids[1], 50.0)
    assert [o.id for o in await records.due(10.0)] == ids[2:]
    assert [o.id for o in await records.due(50.0)][-1] == ids[1], "due by (next_at, id)"


async def test_retry_failure_and_recover(records: NotifyRecords) -> None:
    a = await records.enqueue("a", 1, {"text": "a"}, 0.0)
    b = await records.enqueue("b", 1, {"text": "b"}, 0.0)
    c = await records.enqueue("c", 2, {"text": "c"}, 0.0)
    assert a and b and c
    await records.claim(a)
    await records.mark_retry(a, "flood", 30.0, count_attempt=False)
    o = await records.outbound("a")
    assert o and (o.status, o.attempts, o.next_at, o.error) == (PENDING, 0, 30.0, "flood")
    await records.claim(a)
    await records.mark_retry(a, "x" * 2000, 40.0)
    o = await records.outbound("a")
    assert o and o.attempts == 1 and len(o.error) == 500
    await records.claim(b)
    assert await records.recover() == 1
    o = await records.outbound("b")
    assert o and o.status == PENDING
    assert await records.fail_pending(1, "blocked") == 2
    assert (await records.outbound("a")).status == FAILED  # type: ignore[union-attr]
    assert (await records.outbound("c")).status == PENDING  # type: ignore[union-attr]
    await records.claim(c)
    assert (await records.counts()) == {PENDING: 0, SENDING: 1, SENT: 0, FAILED: 2}
    await records.mark_failed(c, "bad request")
    assert [o.key for o in await records.outbox(2)] == ["c"]
    assert [o.key for o in await records.outbox()] == ["a", "b", "c"]


async def test_last_sent_per_chat(records: NotifyRecords) -> None:
    ids = [await records.enqueue(f"k{i}", chat, {"text": "t"}, 0.0) for i, chat in enumerate((1, 1, 2, 3))]
    for oid, at in zip(ids, (10.0, 12.0, 5.0, 20.0), strict=True):
        assert oid and await records.claim(oid)
        if at != 20.0:
            await records.mark_sent(oid, None, at)
    assert await records.last_sent(6.0, 30.0) == {1: 12.0, 3: 30.0}, "chat 2 too early; chat 3 caught mid-send"
    assert await records.last_sent(0.0, 30.0) == {1: 12.0, 2: 5.0, 3: 30.0}


async def test_purge_keeps_what_is_not_done(records: NotifyRecords) -> None:
    ids = [await records.enqueue(f"k{i}", 1, {"text": "t"}, float(i)) for i in range(5)]
    assert all(ids)
    for oid in ids[:3]:
        await records.claim(oid)  # type: ignore[arg-type]
    await records.mark_sent(ids[0], 1, 10.0)  # type: ignore[arg-type]
    await records.mark_failed(ids[1], "bad")  # type: ignore[arg-type]
    assert await records.purge(4.5) == 2, "sent and failed only: not the one sending, nor the pending"
    assert [o.key for o in await records.outbox()] == ["k2", "k3", "k4"]
    assert await records.enqueue("k0", 1, {"text": "t"}, 20.0) is not None, "a purged key is forgotten"


async def test_thread_kept(records: NotifyRecords) -> None:
    await records.enqueue("g", -100, {"text": "digest", "parse_mode": "HTML"}, 0.0, thread_id=7)
    o = await records.outbound("g")
    assert o and o.chat_id == -100 and o.thread_id == 7 and o.payload["parse_mode"] == "HTML"


async def test_sqlite_keeps_rows_across_reopen(tmp_path) -> None:
    path = tmp_path / "n.sqlite3"
    r = SqliteNotifyRecords(path)
    await r.watch("1", "p", "o", "ru", 1.0)
    await r.advance("1", "p", 4, 10.0)
    oid = await r.enqueue("k", 1, {"text": "t"}, 1.0)
    assert oid is not None and await r.claim(oid)
    await r.close()
    r = SqliteNotifyRecords(path)
    assert (await r.watches("1"))[0].last_rank == 4
    assert await r.recover() == 1
    assert await r.enqueue("k", 1, {"text": "t"}, 2.0) is None
    await r.close()


async def test_watches_made_at_one_moment_keep_their_order(records: NotifyRecords) -> None:
    for chat in ("3", "1", "2"):
        await records.watch(chat, "p", "o", "ru", 5.0)
    for posting in ("z", "a", "m"):
        await records.watch("1", posting, "o", "ru", 5.0)
    assert [w.chat_id for w in await records.watchers("p")] == ["3", "1", "2"]
    assert [w.posting_number for w in await records.watches("1")] == ["p", "z", "a", "m"]


async def test_one_process_never_releases_a_claim_while_running(tmp_path) -> None:
    for records in (MemoryNotifyRecords(), SqliteNotifyRecords(tmp_path / "n.sqlite3")):
        oid = await records.enqueue("k", 1, {"text": "t"}, 0.0)
        assert oid and await records.claim(oid)
        assert await records.release_expired() == 0, "only a restart interrupts a send (recover)"
        assert (await records.outbound("k")).status == SENDING  # type: ignore[union-attr]
        await records.close()


# ---- several processes on one PostgreSQL database ---------------------------------------------------

async def test_processes_claiming_one_message_at_once_send_it_once(pg_url) -> None:
    """Four processes (four instances, each its own connections) claim every one of 40 messages at
    once: each message is won by exactly one of them, with one attempt counted."""
    records = [PgNotifyRecords(pg_url, pool_size=4) for _ in range(4)]
    ids = [await records[0].enqueue(f"k{i}", 100 + i % 3, {"text": str(i)}, 1.0) for i in range(40)]
    assert all(ids)
    for r in records:
        await r.counts()  # every instance connected and migrated before the race
    claims = [(oid, r) for oid in ids for r in records for _ in range(2)]
    wins = await asyncio.wait_for(asyncio.gather(*(r.claim(oid) for oid, r in claims)), 30)
    per_id: dict[int, int] = {}
    for (oid, _), won in zip(claims, wins, strict=True):
        per_id[oid] = per_id.get(oid, 0) + int(won)
    assert per_id == dict.fromkeys(ids, 1), "exactly one claim wins each message"
    rows = await records[1].outbox()
    assert [(o.status, o.attempts) for o in rows] == [(SENDING, 1)] * 40
    assert await records[2].due(10.0) == []
    for r in records:
        await r.close()


async def test_processes_queueing_one_event_at_once_queue_it_once(pg_url) -> None:
    """The same change reaching four processes at once (a replay, two sources): each key is queued
    by exactly one, each watch made by exactly one, and concurrent advances never move a watch back."""
    records = [PgNotifyRecords(pg_url, pool_size=4) for _ in range(4)]
    for r in records:
        await r.counts()
    keys = [f"c{i % 5}:p{i}:3" for i in range(20)]
    queued = await asyncio.wait_for(asyncio.gather(
        *(r.enqueue(key, 7, {"text": key}, 1.0) for key in keys for r in records)), 30)
    assert [sum(q is not None for q in queued[i * 4:(i + 1) * 4]) for i in range(20)] == [1] * 20
    assert sorted(o.key for o in await records[0].outbox()) == sorted(keys)
    made = await asyncio.gather(*(r.watch("1", f"p{i}", "o", "ru", 1.0) for i in range(10) for r in records))
    assert [sum(made[i * 4:(i + 1) * 4]) for i in range(10)] == [1] * 10
    steps = [(rank, at) for rank in range(5, 0, -1) for at in (20.0, 10.0)]  # the newest first, older ones late
    await asyncio.gather(*(r.advance("1", "p0", rank, at) for rank, at in steps for r in records))
    [w] = [w for w in await records[3].watches("1") if w.posting_number == "p0"]  # made at once: any order
    assert (w.last_rank, w.last_at) == (5, 20.0)
    for r in records:
        await r.close()


async def test_recover_leaves_a_message_a_live_process_is_sending(pg_url) -> None:
    """A leader being replaced may still be sending: the new one's recover() leaves its claims alone
    until their lease runs out, then takes them back (once)."""
    old, new = PgNotifyRecords(pg_url, lease=1.0), PgNotifyRecords(pg_url, lease=1.0)
    a = await old.enqueue("a", 1, {"text": "a"}, 0.0)
    b = await old.enqueue("b", 2, {"text": "b"}, 0.0)
    assert a and b and await old.claim(a)
    assert await new.recover() == 0, "the old sender is alive (its lease runs): not interrupted"
    assert await new.release_expired() == 0
    assert not await new.claim(a)
    assert [o.id for o in await new.due(1.0)] == [b]
    await asyncio.sleep(1.1)
    assert await new.recover() == 1, "the lease ran out: the old sender died mid-send"
    assert await new.recover() == 0, "given back once"
    assert await new.claim(a)
    assert (await new.outbound("a")).attempts == 2  # type: ignore[union-attr]
    await new.mark_sent(a, 9, 2.0)
    assert await new.release_expired() == 0, "a sent message is never handed back"
    await asyncio.sleep(1.1)
    assert await old.release_expired() == 0
    o = await new.outbound("a")
    assert o and o.status == SENT and o.message_id == 9
    await old.close()
    await new.close()
