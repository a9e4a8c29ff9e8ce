"""One contract, every backend: the handoff's records in memory and in SQLite must behave the same.

Every method of `HandoffRecords` is exercised here against `MemoryHandoffRecords`,
`SqliteHandoffRecords` (a real file in tmp_path) and `PgHandoffRecords` (a real PostgreSQL server
started by the test session, tests/pg_server.py); the SQLite one must also keep every write that
returned when its process is killed (SIGKILL, no clean-up).
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.handoff.records import (
    BLOCKED,
    CLOSED,
    ERROR_LIMIT,
    FAILED,
    LEFT,
    OPEN,
    PENDING,
    RETURNED,
    SENDING,
    SENT,
    TO_BUYER,
    TO_GROUP,
    TO_TOPIC,
    HandoffRecords,
    Topic,
)
from bot.handoff.records_memory import MemoryHandoffRecords
from bot.handoff.records_pg import PgHandoffRecords
from bot.handoff.records_sqlite import SqliteHandoffRecords

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def records(request, tmp_path) -> AsyncIterator[HandoffRecords]:
    r: HandoffRecords
    if request.param == "postgresql":
        # lease 0: a relay caught mid-send is its dead sender's at once, as after a restart (several
        # processes keep the lease: test_pg_backend.py)
        r = PgHandoffRecords(request.getfixturevalue("pg_url"), lease=0.0)
    else:
        r = MemoryHandoffRecords() if request.param == "memory" else SqliteHandoffRecords(tmp_path / "h.sqlite3")
    yield r
    await r.close()


def _topic(chat_id: str = "1", thread_id: int = 10, **changes) -> Topic:
    fields = {"name": "🟡 Анна · RU · 1-2", "buyer_name": "Анна", "username": "anna", "lang": "ru",
              "order_number": "46208137-0007"} | changes
    return Topic(chat_id, thread_id, **fields)


async def _relay(records: HandoffRecords, key: str, chat_id: str = "1", direction: str = TO_TOPIC, now: float = 1.0,
                 **kwargs) -> int:
    rid = await records.enqueue(key, chat_id, direction, "send", {"text": key}, now, **kwargs)
    assert rid is not None
    return rid


def test_both_implementations_have_every_method_of_the_protocol():
    members = {n: f for n, f in vars(HandoffRecords).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert {"enqueue", "purge", "close", "mark_seen"} <= members.keys()
    for cls in (MemoryHandoffRecords, SqliteHandoffRecords, PgHandoffRecords):
        for name, proto in members.items():
            impl = getattr(cls, name, None)
            assert inspect.iscoroutinefunction(proto), f"HandoffRecords.{name} must be async"
            assert impl is not None and inspect.iscoroutinefunction(impl), f"{cls.__name__}.{name} must be async"
            assert list(inspect.signature(impl).parameters) == list(inspect.signature(proto).parameters), \
                f"{cls.__name__}.{name} takes other parameters than the protocol"


class TestTopics:
    async def test_unknown_buyer_and_thread(self, records):
        assert await records.topic("1") is None
        assert await records.topic_by_thread(10) is None

    async def test_saved_topic_is_found_by_buyer_and_by_thread(self, records):
        await records.save_topic(_topic(), 100.0, created=True)
        assert await records.topic("1") == _topic()
        assert await records.topic_by_thread(10) == _topic()
        assert await records.topic("2") is None and await records.topic_by_thread(11) is None

    async def test_update_replaces_the_fields(self, records):
        await records.save_topic(_topic(), 100.0, created=True)
        renamed = _topic(name="🟢 Анна П. · RU", buyer_name="Анна П.", username="", lang="zh", order_number="")
        await records.save_topic(renamed, 200.0, created=False)
        assert await records.topic("1") == renamed
        assert await records.topics_created_since(0.0) == 1, "an update is not a creation"

    async def test_recreated_topic_moves_to_its_new_thread(self, records):
        await records.save_topic(_topic(thread_id=10), 100.0, created=True)
        await records.save_topic(_topic(thread_id=20), 200.0, created=True)
        assert (await records.topic("1")).thread_id == 20
        assert await records.topic_by_thread(10) is None
        assert (await records.topic_by_thread(20)).chat_id == "1"

    async def test_a_thread_claimed_by_another_buyer_drops_the_stale_row(self, records):
        await records.save_topic(_topic("1", 10), 100.0, created=True)
        await records.save_topic(_topic("2", 10, buyer_name="Олег"), 200.0, created=True)
        assert await records.topic("1") is None
        assert (await records.topic_by_thread(10)).buyer_name == "Олег"

    async def test_creations_are_counted_for_rate_limits(self, records):
        for chat, thread, at in (("1", 10, 100.0), ("1", 11, 200.0), ("2", 12, 300.0)):
            await records.save_topic(_topic(chat, thread), at, created=True)
        assert await records.topics_created_since(0.0) == 3
        assert await records.topics_created_since(200.0) == 2, "at `since` counts"
        assert await records.topics_created_since(200.1) == 1
        assert await records.topics_created_since(0.0, "1") == 2
        assert await records.topics_created_since(150.0, "1") == 1
        assert await records.topics_created_since(0.0, "3") == 0


class TestSessions:
    async def test_new_session_is_open(self, records):
        assert await records.open_session("1") is None and await records.last_session("1") is None
        sid = await records.add_session("1", "talk_to_agent", "handoff", "buyer_request", 100.0)
        s = await records.open_session("1")
        assert s is not None and s.id == sid and s.status == OPEN
        assert (s.chat_id, s.flow_id, s.node_id, s.reason, s.started_at) == ("1", "talk_to_agent", "handoff",
                                                                             "buyer_request", 100.0)
        assert (s.first_reply_at, s.closed_at, s.closed_by, s.rating, s.announced_at) == (None, None, "", None, None)
        assert await records.session(sid) == s == await records.last_session("1")
        assert await records.session(sid + 100) is None

    async def test_ids_increase_and_sessions_are_counted_per_buyer(self, records):
        a = await records.add_session("1", "f", "n", "r", 100.0)
        b = await records.add_session("2", "f", "n", "r", 101.0)
        c = await records.add_session("1", "", "", "agent_followup", 102.0)
        assert 0 < a < b < c
        assert await records.session_count("1") == 2 and await records.session_count("2") == 1
        assert await records.session_count("3") == 0
        assert (await records.last_session("1")).id == c

    async def test_sessions_since(self, records):
        ids = [await records.add_session(str(i), "f", "n", "r", 100.0 + i) for i in range(3)]
        assert [s.id for s in await records.sessions()] == ids
        assert [s.id for s in await records.sessions(101.0)] == ids[1:], "started at `since` counts"
        assert await records.sessions(500.0) == []

    async def test_end_session_once(self, records):
        sid = await records.add_session("1", "f", "n", "r", 100.0)
        assert await records.end_session(sid, CLOSED, 160.0, by="Лена")
        assert not await records.end_session(sid, LEFT, 170.0, by="buyer"), "only an open session ends"
        s = await records.session(sid)
        assert (s.status, s.closed_at, s.closed_by) == (CLOSED, 160.0, "Лена")
        assert await records.open_session("1") is None and (await records.last_session("1")).id == sid
        assert not await records.end_session(sid + 100, CLOSED, 1.0)

    @pytest.mark.parametrize("status", [LEFT, RETURNED, BLOCKED])
    async def test_every_ending(self, records, status):
        sid = await records.add_session("1", "f", "n", "r", 100.0)
        assert await records.end_session(sid, status, 110.0)
        s = await records.session(sid)
        assert s.status == status and s.closed_by == ""

    async def test_open_session_is_the_latest_open_one(self, records):
        old = await records.add_session("1", "f", "n", "r", 100.0)
        await records.end_session(old, CLOSED, 110.0)
        new = await records.add_session("1", "f", "n", "r", 120.0)
        assert (await records.open_session("1")).id == new

    async def test_queue_position_and_unanswered(self, records):
        a = await records.add_session("1", "f", "n", "r", 100.0)
        b = await records.add_session("2", "f", "n", "r", 101.0)
        c = await records.add_session("3", "f", "n", "r", 102.0)
        assert [await records.queue_position(x) for x in (a, b, c)] == [1, 2, 3]
        assert [s.id for s in await records.unanswered()] == [a, b, c]
        assert await records.mark_first_reply(a, 130.0)
        assert not await records.mark_first_reply(a, 140.0), "the first reply is recorded once"
        assert (await records.session(a)).first_reply_at == 130.0
        await records.end_session(b, LEFT, 135.0)
        assert await records.queue_position(c) == 1, "answered and ended sessions are not ahead"
        assert [s.id for s in await records.unanswered()] == [c]

    async def test_mark_announced(self, records):
        sid = await records.add_session("1", "f", "n", "r", 100.0)
        await records.mark_announced(sid, 700.0)
        await records.mark_announced(sid, 1300.0)
        assert (await records.session(sid)).announced_at == 1300.0
        assert [s.announced_at for s in await records.unanswered()] == [1300.0]

    async def test_rating(self, records):
        sid = await records.add_session("1", "f", "n", "r", 100.0)
        assert not await records.rate(sid, "1", 5), "an open session cannot be rated"
        await records.end_session(sid, CLOSED, 200.0)
        assert not await records.rate(sid, "2", 5), "only the buyer of the session rates it"
        assert await records.rate(sid, "1", 4)
        assert not await records.rate(sid, "1", 1), "rated once"
        assert (await records.session(sid)).rating == 4
        assert not await records.rate(sid + 100, "1", 3)


class TestRelays:
    async def test_enqueue_is_idempotent_by_key(self, records):
        first = await records.enqueue("b:1:10", "1", TO_TOPIC, "copy", {"summary": "привет"}, 1.0, session_id=7,
                                      src_chat=1, src_message_id=10)
        assert first is not None
        assert await records.enqueue("b:1:10", "1", TO_TOPIC, "copy", {"summary": "other"}, 2.0) is None
        second = await records.enqueue("b:1:11", "1", TO_TOPIC, "copy", {}, 2.0)
        assert second is not None and second > first
        r = await records.relay("b:1:10")
        assert (r.id, r.key, r.chat_id, r.session_id, r.direction, r.op, r.src_chat, r.src_message_id) == (
            first, "b:1:10", "1", 7, TO_TOPIC, "copy", 1, 10)
        assert (r.payload, r.status, r.attempts, r.next_at, r.error, r.dest_chat, r.dest_message_id, r.created_at) == (
            {"summary": "привет"}, PENDING, 0, 1.0, "", None, None, 1.0)
        assert await records.relay("b:1:12") is None

    async def test_payload_round_trip_is_a_copy(self, records):
        payload = {"text": "<b>Здравствуйте</b> 你好 ' OR 1=1 --", "buttons": [[["1⭐", "ho:r:1:1"]]], "n": 3}
        await records.enqueue("k", "1", TO_BUYER, "send", payload, 1.0)
        payload["text"] = "changed by the caller"
        got = await records.relay("k")
        assert got.payload == {"text": "<b>Здравствуйте</b> 你好 ' OR 1=1 --", "buttons": [[["1⭐", "ho:r:1:1"]]],
                               "n": 3}
        got.payload["text"] = "changed again"
        assert (await records.relay("k")).payload["text"].startswith("<b>")
        assert (await records.relays())[0].payload["n"] == 3

    async def test_due_in_order_by_chat_and_back_off(self, records):
        a = await _relay(records, "a", "1", now=10.0)
        b = await _relay(records, "b", "2", now=20.0)
        c = await _relay(records, "c", "1", now=30.0)
        assert [r.id for r in await records.due(25.0)] == [a, b]
        assert [r.id for r in await records.due(30.0, "1")] == [a, c]
        assert [r.id for r in await records.due(None)] == [a, b, c]
        await records.claim(a)
        await records.mark_retry(a, "502 Bad Gateway", 100.0)
        assert [r.id for r in await records.due(50.0)] == [b, c], "waits for its back-off"
        assert [r.id for r in await records.due(100.0)] == [a, b, c]
        assert [r.id for r in await records.due(None, "1")] == [a, c], "start-up ignores back-off"

    async def test_claim_sending_sent(self, records):
        rid = await _relay(records, "k")
        assert await records.claim(rid)
        assert not await records.claim(rid), "a relay is claimed once"
        r = await records.relay("k")
        assert r.status == SENDING and r.attempts == 1
        assert await records.due(None) == [], "a relay being sent is not due"
        await records.mark_sent(rid, -100123, 55, 2.0)
        r = await records.relay("k")
        assert (r.status, r.dest_chat, r.dest_message_id, r.error) == (SENT, -100123, 55, "")
        assert not await records.claim(rid)
        assert not await records.claim(rid + 100)

    async def test_retry_keeps_the_error_and_schedules_next_at(self, records):
        rid = await _relay(records, "k")
        await records.claim(rid)
        await records.mark_retry(rid, "x" * 2000, 60.0)
        r = await records.relay("k")
        assert (r.status, r.attempts, r.next_at) == (PENDING, 1, 60.0)
        assert r.error == "x" * ERROR_LIMIT
        await records.claim(rid)
        await records.mark_retry(rid, "Flood control exceeded", 90.0, count_attempt=False)
        r = await records.relay("k")
        assert (r.status, r.attempts, r.next_at, r.error) == (PENDING, 1, 90.0, "Flood control exceeded")
        await records.mark_retry(rid, "again", 95.0, count_attempt=False)
        await records.mark_retry(rid, "again", 95.0, count_attempt=False)
        assert (await records.relay("k")).attempts == 0, "never below zero"
        await records.claim(rid)
        await records.mark_sent(rid, 1, 2, 100.0)
        assert (await records.relay("k")).error == "", "sent clears the last error"

    async def test_failed(self, records):
        rid = await _relay(records, "k", direction=TO_BUYER)
        await records.claim(rid)
        await records.mark_failed(rid, "Forbidden: bot was blocked by the user " + "." * 1000)
        r = await records.relay("k")
        assert r.status == FAILED and r.error.startswith("Forbidden") and len(r.error) == ERROR_LIMIT
        assert await records.due(None) == [] and not await records.claim(rid)

    async def test_recover_puts_interrupted_sends_back(self, records):
        a, b, c = [await _relay(records, k) for k in "abc"]
        await records.claim(a)
        await records.claim(b)
        await records.mark_sent(b, 1, 2, 3.0)
        assert await records.recover() == 1
        assert [(r.id, r.status) for r in await records.relays()] == [(a, PENDING), (b, SENT), (c, PENDING)]
        assert (await records.relay("a")).attempts == 1, "the interrupted attempt still counts"
        assert await records.recover() == 0

    async def test_earlier_unsent_keeps_each_conversation_in_order(self, records):
        a = await _relay(records, "a", "1", TO_TOPIC)
        await _relay(records, "other-direction", "1", TO_BUYER)
        await _relay(records, "other-chat", "2", TO_TOPIC)
        b = await _relay(records, "b", "1", TO_TOPIC)
        rb, ra = await records.relay("b"), await records.relay("a")
        assert await records.earlier_unsent(rb) and not await records.earlier_unsent(ra)
        assert not await records.earlier_unsent(await records.relay("other-direction"))
        assert not await records.earlier_unsent(await records.relay("other-chat"))
        await records.claim(a)
        assert await records.earlier_unsent(rb), "one being sent still holds the next back"
        await records.mark_failed(a, "bad request")
        assert not await records.earlier_unsent(rb), "a failed one does not"
        assert b > a

    async def test_relay_by_copy(self, records):
        a = await _relay(records, "a", src_chat=1, src_message_id=10)
        b = await _relay(records, "b", "2", TO_BUYER, src_chat=-100, src_message_id=20)
        await records.claim(a)
        await records.mark_sent(a, -100, 501, 2.0)
        await records.claim(b)
        await records.mark_sent(b, 2, 501, 2.0)
        assert (await records.relay_by_copy(-100, 501)).key == "a"
        assert (await records.relay_by_copy(2, 501)).src_message_id == 20
        assert await records.relay_by_copy(-100, 502) is None

    async def test_relays_per_buyer_in_order(self, records):
        ids = [await _relay(records, f"k{i}", str(i % 2)) for i in range(4)]
        assert [r.id for r in await records.relays()] == ids
        assert [r.key for r in await records.relays("1")] == ["k1", "k3"]
        assert await records.relays("9") == []


class TestNotesBlocksNotices:
    async def test_notes(self, records):
        sid = await records.add_session("1", "f", "n", "r", 1.0)
        a = await records.add_note("1", sid, 501, "Лена", "покупатель нервничает", 10.0)
        b = await records.add_note("1", None, 502, "Олег", "второе", 20.0)
        await records.add_note("2", None, 501, "Лена", "другой покупатель", 30.0)
        assert 0 < a < b
        assert await records.notes("1") == [{"id": a, "author": "Лена", "text": "покупатель нервничает", "at": 10.0},
                                             {"id": b, "author": "Олег", "text": "второе", "at": 20.0}]
        assert await records.notes("3") == []

    async def test_block_and_unblock(self, records):
        assert not await records.is_blocked("1")
        await records.block("1", "Лена", 10.0)
        await records.block("1", "Олег", 20.0)  # blocking twice is fine
        assert await records.is_blocked("1") and not await records.is_blocked("2")
        assert await records.unblock("1")
        assert not await records.unblock("1")
        assert not await records.is_blocked("1")

    async def test_notices_are_seen_once(self, records):
        args = {"posting": "46208137-0007-1", "evidence": [{"file_id": "x"}]}
        a = await records.add_notice("1", "urge_seller", args, 10.0)
        b = await records.add_notice("2", "open_return", {}, 11.0)
        assert 0 < a < b
        args["posting"] = "changed"
        assert await records.notice(a) == {"id": a, "chat_id": "1", "action": "urge_seller",
                                           "args": {"posting": "46208137-0007-1", "evidence": [{"file_id": "x"}]},
                                           "message_id": None, "seen_by": None, "seen_at": None, "outcome": None,
                                           "outcome_reason": None, "outcome_by": None, "outcome_at": None}
        assert await records.mark_seen(a, "Лена", 20.0)
        assert not await records.mark_seen(a, "Олег", 21.0), "the first agent only"
        seen = await records.notice(a)
        assert (seen["seen_by"], seen["seen_at"]) == ("Лена", 20.0)
        assert (await records.notice(b))["seen_at"] is None
        assert await records.notice(b + 100) is None and not await records.mark_seen(b + 100, "x", 1.0)

    async def test_a_request_outcome_is_final_and_listed(self, records):
        a = await records.add_notice("1", "request_cancellation", {"posting": "1-2-3"}, 10.0)
        b = await records.add_notice("2", "open_return", {}, 11.0)
        assert await records.set_outcome(a, "declined", "shipped", "Лена", 30.0)
        assert not await records.set_outcome(a, "done", "", "Олег", 31.0), "an outcome is final"
        got = await records.notice(a)
        outcome = (got["outcome"], got["outcome_reason"], got["outcome_by"], got["outcome_at"])
        assert outcome == ("declined", "shipped", "Лена", 30.0)
        listed = await records.notices()
        assert [n["id"] for n in listed] == [a, b] and listed[1]["outcome"] is None and listed[0]["at"] == 10.0
        assert [n["id"] for n in await records.notices(since=11.0)] == [b]
        assert not await records.set_outcome(b + 100, "done", "", "x", 1.0)


class TestPurge:
    async def test_purge_deletes_only_what_is_old_and_done(self, records):
        live = await records.add_session("1", "f", "n", "r", 10.0)
        ended = await records.add_session("2", "f", "n", "r", 10.0)
        await records.end_session(ended, CLOSED, 20.0)
        for key, chat, sid, status in (("old-sent", "2", ended, SENT), ("old-failed", "3", None, FAILED),
                                       ("old-pending", "3", None, PENDING), ("old-sending", "3", None, SENDING),
                                       ("live-sent", "1", live, SENT), ("live-failed", "1", live, FAILED)):
            rid = await _relay(records, key, chat, now=50.0, session_id=sid)
            if status != PENDING:
                await records.claim(rid)
            if status == SENT:
                await records.mark_sent(rid, 1, rid, 51.0)
            elif status == FAILED:
                await records.mark_failed(rid, "x")
        new_sent = await _relay(records, "new-sent", "2", now=150.0, session_id=ended)
        await records.claim(new_sent)
        await records.mark_sent(new_sent, 1, 99, 151.0)
        await records.add_note("2", ended, 1, "Лена", "old, ended", 50.0)
        await records.add_note("3", None, 1, "Лена", "old, no session", 50.0)
        await records.add_note("1", live, 1, "Лена", "old, open session", 50.0)
        await records.add_note("2", ended, 1, "Лена", "new", 150.0)
        await records.add_notice("2", "urge_seller", {}, 50.0)
        new_notice = await records.add_notice("2", "urge_seller", {}, 150.0)
        await records.save_topic(_topic("2", 20), 50.0, created=True)
        await records.save_topic(_topic("3", 30), 150.0, created=True)

        assert await records.purge(100.0) == {"relays": 2, "notes": 2, "notices": 1, "topic_log": 1}

        assert [r.key for r in await records.relays()] == ["old-pending", "old-sending", "live-sent", "live-failed",
                                                           "new-sent"]
        assert [n["text"] for n in await records.notes("2")] == ["new"]
        assert await records.notes("3") == []
        assert [n["text"] for n in await records.notes("1")] == ["old, open session"]
        assert await records.notice(new_notice) is not None and await records.notice(new_notice - 1) is None
        assert await records.topics_created_since(0.0) == 1
        assert await records.topic("2") is not None, "topics themselves stay"
        assert [s.id for s in await records.sessions()] == [live, ended], "sessions are never purged"
        assert await records.purge(100.0) == {"relays": 0, "notes": 0, "notices": 0, "topic_log": 0}
        assert await records.enqueue("old-sent", "2", TO_TOPIC, "send", {}, 200.0) is not None, \
            "a purged key is free again"

    async def test_ids_never_repeat_after_a_purge(self, records):
        """Ids end up in relay keys (notice:<id>, fail:<id>): a reused id would silence a new notice."""
        notices = [await records.add_notice("1", "urge_seller", {}, 10.0) for _ in range(3)]
        notes = [await records.add_note("1", None, 1, "Лена", "n", 10.0) for _ in range(3)]
        relays = []
        for i in range(3):
            relays.append(rid := await _relay(records, f"k{i}", now=10.0))
            await records.claim(rid)
            await records.mark_sent(rid, 1, i, 11.0)
        assert await records.purge(1000.0) == {"relays": 2, "notes": 2, "notices": 2, "topic_log": 0}, \
            "the newest of each stays"
        assert await records.add_notice("1", "urge_seller", {}, 20.0) > max(notices)
        assert await records.add_note("1", None, 1, "Лена", "n", 20.0) > max(notes)
        assert await _relay(records, "k9", now=20.0) > max(relays)


# ---- SQLite: durable and shared ------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import asyncio, sys, time
    from bot.handoff.records import CLOSED, TO_BUYER, TO_TOPIC, Topic
    from bot.handoff.records_sqlite import SqliteHandoffRecords

    async def main(path):
        r = SqliteHandoffRecords(path)
        await r.save_topic(Topic("1", 10, "🟡 Анна", "Анна", "anna", "ru", "1-2"), 100.0, created=True)
        sid = await r.add_session("1", "talk_to_agent", "handoff", "buyer_request", 100.0)
        rid = await r.enqueue("b:1:10", "1", TO_TOPIC, "copy", {"summary": "привет"}, 101.0, session_id=sid,
                              src_chat=1, src_message_id=10)
        await r.claim(rid)
        await r.mark_sent(rid, -100, 55, 102.0)
        mid = await r.enqueue("a:-100:56", "1", TO_BUYER, "send", {"text": "ответ"}, 103.0, session_id=sid)
        await r.claim(mid)  # killed mid-send
        await r.mark_first_reply(sid, 103.0)
        await r.add_note("1", sid, 501, "Лена", "заметка", 104.0)
        await r.block("2", "Лена", 105.0)
        nid = await r.add_notice("1", "urge_seller", {"posting": "1-2-3"}, 106.0)
        await r.mark_seen(nid, "Лена", 107.0)
        old = await r.add_session("3", "f", "n", "r", 90.0)
        await r.end_session(old, CLOSED, 95.0, by="Лена")
        await r.rate(old, "3", 5)
        print("written", flush=True)
        time.sleep(60)  # the parent kills us here: nothing closed, nothing flushed by us

    asyncio.run(main(sys.argv[1]))
""")


def _write_then_kill(path: Path) -> int:
    """Run _CHILD; SIGKILL it as soon as it says its writes returned. Its exit code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, cwd=ROOT, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"written"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    return child.returncode


async def test_sqlite_keeps_every_acknowledged_write_when_killed(tmp_path):
    path = tmp_path / "killed.sqlite3"
    assert _write_then_kill(path) == -signal.SIGKILL

    r = SqliteHandoffRecords(path)
    try:
        assert (await r.topic("1")).thread_id == 10 and await r.topics_created_since(0.0, "1") == 1
        s = await r.open_session("1")
        assert s is not None and s.first_reply_at == 103.0 and s.reason == "buyer_request"
        sent = await r.relay("b:1:10")
        assert (sent.status, sent.dest_message_id, sent.payload) == (SENT, 55, {"summary": "привет"})
        assert (await r.relay("a:-100:56")).status == SENDING
        assert await r.recover() == 1, "the relay caught mid-send goes out again after the restart"
        assert [n["text"] for n in await r.notes("1")] == ["заметка"]
        assert await r.is_blocked("2")
        notice = await r.notice(1)
        assert notice["seen_by"] == "Лена" and notice["args"] == {"posting": "1-2-3"}
        rated = await r.last_session("3")
        assert (rated.status, rated.closed_by, rated.rating) == (CLOSED, "Лена", 5)
    finally:
        await r.close()


async def test_two_sqlite_records_on_one_file_see_each_other(tmp_path):
    """A second process (here: a second connection) sees what the first wrote, at once."""
    a, b = SqliteHandoffRecords(tmp_path / "shared.sqlite3"), SqliteHandoffRecords(tmp_path / "shared.sqlite3")
    try:
        sid = await a.add_session("1", "f", "n", "r", 1.0)
        rid = await a.enqueue("k", "1", TO_GROUP, "send", {"text": "x"}, 1.0)
        assert (await b.open_session("1")).id == sid
        assert await b.claim(rid) and not await a.claim(rid), "one claim across connections"
        assert await b.enqueue("k", "1", TO_GROUP, "send", {}, 2.0) is None
    finally:
        await a.close()
        await b.close()
