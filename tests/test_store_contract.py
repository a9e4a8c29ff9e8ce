"""One contract, every backend: the memory, SQLite and PostgreSQL stores must behave the same."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

import pytest

from bot.engine.lookup import OwnerRecord
from bot.engine.state import ConversationState, Position
from bot.store.base import InboxItem, Outgoing, Retention
from bot.store.memory import MemoryStore
from bot.store.postgres import PgStore
from bot.store.sqlite import SqliteStore, read_analytics


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "postgresql":
        s = PgStore(request.getfixturevalue("pg_url"))
    else:
        s = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "c.sqlite3")
    yield s
    await s.close()


def _state(node: str = "menu") -> ConversationState:
    return ConversationState(lang="zh", at=Position(flow="main_menu", version="v1", node=node),
                             vars={"order_number": "1-2"})


class TestStoreContract:
    async def test_unknown_chat_has_no_state(self, store):
        assert await store.load_state("nobody") is None

    async def test_state_round_trip(self, store):
        await store.save_turn("c1", _state("pick"), [], [])
        loaded = await store.load_state("c1")
        assert loaded is not None and loaded.at.node == "pick" and loaded.lang == "zh"
        assert loaded.vars == {"order_number": "1-2"}

    async def test_latest_state_wins_and_chats_are_separate(self, store):
        await store.save_turn("c1", _state("a"), [], [])
        await store.save_turn("c1", _state("b"), [], [])
        await store.save_turn("c2", _state("z"), [], [])
        assert (await store.load_state("c1")).at.node == "b"
        assert (await store.load_state("c2")).at.node == "z"
        assert await store.count_conversations() == 2

    async def test_transcript_keeps_both_directions_in_order(self, store):
        await store.add_incoming("c1", "text", "привет")
        ids = await store.save_turn("c1", _state(),
                                    [Outgoing("say", "Здравствуйте"),
                                     Outgoing("say", "Меню", {"buttons": [["1", "a"]]})], [])
        await store.add_incoming("c1", "text", "{order} %s ' OR 1=1 --")
        entries = await store.transcript("c1")
        assert [(e.direction, e.text) for e in entries] == [
            ("in", "привет"), ("out", "Здравствуйте"), ("out", "Меню"), ("in", "{order} %s ' OR 1=1 --")]
        assert entries[2].meta["buttons"] == [["1", "a"]]
        assert [e.id for e in entries[1:3]] == ids
        assert await store.transcript("other") == []

    async def test_delivery_status_is_recorded(self, store):
        ids = await store.save_turn("c1", _state(), [Outgoing("say", "a"), Outgoing("say", "b")], [])
        await store.mark_delivery(ids[0], True)
        await store.mark_delivery(ids[1], False, "forbidden")
        entries = {e.id: e for e in await store.transcript("c1")}
        assert entries[ids[0]].delivered is True
        assert entries[ids[1]].delivered is False and entries[ids[1]].meta["error"] == "forbidden"

    async def test_analytics_events(self, store):
        await store.save_turn("c1", _state(), [], [("flow_started", {"flow": "main_menu"}),
                                                   ("flow_ended", {"flow": "main_menu", "outcome": "resolved"})])
        events = await store.analytics()
        assert [(e.name, e.data.get("flow")) for e in events] == [("flow_started", "main_menu"),
                                                                  ("flow_ended", "main_menu")]
        assert await store.analytics(since=events[-1].at + 3600) == []

    async def test_actions_are_recorded(self, store):
        await store.record_action("c1", "open_return", {"posting": "1-2-3", "evidence": [{"file_id": "x"}]})
        await store.record_action("c2", "urge_seller", {"posting": "9-9-9"})
        mine = await store.actions("c1")
        assert [(a["name"], a["args"]["posting"]) for a in mine] == [("open_return", "1-2-3")]
        assert len(await store.actions()) == 2

    # ---- ownership ------------------------------------------------------------------------------
    async def test_wrong_owner_answers_count_per_order_across_buyers_and_per_buyer(self, store):
        assert await store.owner_record("111-0001", "a", 0.0) == OwnerRecord()
        r = await store.owner_wrong("111-0001", "a", 100.0, lock_after=3, since=0.0)
        got = (r.buyer_locked, r.buyer_wrong, r.order_wrong, r.order_buyers, r.buyer_wrong_recent)
        assert got == (False, 1, 1, 1, 1)
        await store.owner_wrong("111-0001", "b", 200.0, lock_after=3, since=0.0)
        await store.owner_wrong("222-0002", "a", 300.0, lock_after=3, since=0.0)
        r = await store.owner_record("111-0001", "a", 250.0)
        assert (r.buyer_wrong, r.order_wrong, r.order_buyers, r.buyer_wrong_recent) == (1, 2, 2, 1)
        assert (await store.owner_record("111-0001", "a", 0.0)).buyer_wrong_recent == 2

    async def test_a_lock_is_per_buyer_and_order_and_never_rotates_out(self, store):
        for _ in range(3):
            r = await store.owner_wrong("111-0001", "a", 100.0, lock_after=3, since=0.0)
        assert r.buyer_locked
        for i in range(200):  # many other locks later, the first one still holds
            for _ in range(3):
                await store.owner_wrong(f"9{i:05d}-0001", "a", 200.0, lock_after=3, since=0.0)
        assert (await store.owner_record("111-0001", "a", 0.0)).buyer_locked
        assert not (await store.owner_record("111-0001", "b", 0.0)).buyer_locked
        await store.purge(10**10, Retention(1, 1, 1, 1))  # retention never lifts a lock
        assert (await store.owner_record("111-0001", "a", 0.0)).buyer_locked

    async def test_an_agent_reopens_an_order_closed_by_guessing(self, store):
        for buyer in ("a", "a", "a", "b"):
            await store.owner_wrong("111-0001", buyer, 100.0, lock_after=3, since=0.0)
        await store.owner_wrong("222-0002", "a", 100.0, lock_after=3, since=0.0)
        assert await store.owner_reopen("111-0001") == 5  # 4 wrong answers and a's lock
        r = await store.owner_record("111-0001", "a", 0.0)
        assert (r.buyer_locked, r.buyer_wrong, r.order_wrong, r.order_buyers) == (False, 0, 0, 0)
        assert (await store.owner_record("222-0002", "a", 0.0)).order_wrong == 1, "other orders keep theirs"
        assert await store.owner_reopen("111-0001") == 0

    async def test_a_signed_link_is_bound_to_the_first_buyer_who_opens_it(self, store):
        assert await store.claim_link("L1", "a", 1.0) == "a"
        assert await store.claim_link("L1", "b", 2.0) == "a"
        assert await store.claim_link("L1", "a", 3.0) == "a"
        assert await store.claim_link("L2", "b", 4.0) == "b"

    # ---- inbox ----------------------------------------------------------------------------------
    async def test_inbox_keeps_new_updates_and_drops_repeats(self, store):
        first = [InboxItem("tg:1", "c1", '{"update_id": 1}', 10.0), InboxItem("tg:2", "c2", '{"update_id": 2}', 11.0)]
        assert await store.inbox_add(first) == ["tg:1", "tg:2"]
        again = [InboxItem("tg:2", "c2", '{"changed": true}', 12.0), InboxItem("tg:3", "c1", '{"update_id": 3}', 12.0),
                 InboxItem("tg:3", "c1", '{"twice in one batch": true}', 12.0)]
        assert await store.inbox_add(again) == ["tg:3"]
        assert await store.inbox_add([]) == []
        pending = await store.inbox_pending()
        assert [(p.key, p.chat_id, p.payload, p.at, p.status) for p in pending] == [
            ("tg:1", "c1", '{"update_id": 1}', 10.0, "new"), ("tg:2", "c2", '{"update_id": 2}', 11.0, "new"),
            ("tg:3", "c1", '{"update_id": 3}', 12.0, "new")], "a repeat never overwrites the stored update"
        assert await store.inbox_status("tg:1") == "new"
        assert await store.inbox_status("tg:404") is None

    async def test_a_turn_with_a_receipt_marks_its_update_turned(self, store):
        await store.inbox_add([InboxItem("tg:7", "c1", "{}", 1.0), InboxItem("tg:8", "c1", "{}", 2.0)])
        followups = [{"kind": "handoff", "reason": "cancel_after_ship"}]
        ids = await store.save_turn("c1", _state("asked"), [Outgoing("say", "a"), Outgoing("say", "b")],
                                    [("flow_started", {"flow": "main_menu"})], receipt="tg:7", followups=followups)
        assert await store.inbox_status("tg:7") == "turned"
        pending = await store.inbox_pending()
        assert [(p.key, p.status, p.reply_ids, p.followups) for p in pending] == [
            ("tg:7", "turned", ids, followups), ("tg:8", "new", [], [])]
        assert (await store.load_state("c1")).at.node == "asked"
        # after a crash: the replies not known to be delivered are sent again
        entries = await store.messages_by_id([*reversed(pending[0].reply_ids), 999_999])
        assert [(e.id, e.text, e.delivered) for e in entries] == [(ids[1], "b", None), (ids[0], "a", None)]
        await store.mark_delivery(ids[0], True)
        assert [e.delivered for e in await store.messages_by_id(ids)] == [True, None]
        await store.inbox_finish("tg:7")
        assert await store.inbox_status("tg:7") == "done"
        assert [p.key for p in await store.inbox_pending()] == ["tg:8"]

    async def test_a_turn_without_replies_is_turned_too(self, store):
        await store.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
        assert await store.save_turn("c1", _state(), [], [], receipt="tg:1") == []
        assert [(p.status, p.reply_ids, p.followups) for p in await store.inbox_pending()] == [("turned", [], [])]

    async def test_a_receipt_never_moves_an_update_back(self, store):
        await store.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
        await store.inbox_finish("tg:1", "relayed")
        await store.save_turn("c1", _state("x"), [Outgoing("say", "late")], [], receipt="tg:1")
        await store.save_turn("c1", _state("y"), [], [], receipt="tg:unknown")  # no row: the turn is still saved
        assert await store.inbox_status("tg:1") == "relayed"
        assert await store.inbox_status("tg:unknown") is None
        assert await store.inbox_pending() == []
        assert (await store.load_state("c1")).at.node == "y"

    async def test_an_outcome_is_final(self, store):
        await store.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
        await store.inbox_finish("tg:1", "relayed")
        await store.inbox_finish("tg:1", "done")
        assert await store.inbox_status("tg:1") == "relayed"

    async def test_a_message_without_a_turn_is_recorded_once_with_its_outcome(self, store):
        await store.inbox_add([InboxItem("tg:5", "c1", "{}", 1.0)])
        first = await store.add_incoming("c1", "text", "алло", receipt="tg:5", outcome="relayed")
        assert first and await store.inbox_status("tg:5") == "relayed"
        assert await store.add_incoming("c1", "text", "алло", receipt="tg:5", outcome="relayed") == 0, "a replay"
        assert [e.text for e in await store.transcript("c1")] == ["алло"]
        assert await store.add_incoming("c1", "text", "без квитанции") > 0, "no receipt: always recorded"

    async def test_a_turn_records_the_buyer_message_first_in_its_transaction(self, store):
        await store.inbox_add([InboxItem("tg:9", "c1", "{}", 1.0)])
        ids = await store.save_turn("c1", _state(), [Outgoing("say", "ответ")], [], receipt="tg:9",
                                    incoming=("text", "вопрос"))
        entries = await store.transcript("c1")
        assert [(e.direction, e.text) for e in entries] == [("in", "вопрос"), ("out", "ответ")]
        assert ids == [entries[1].id]
        assert [p.reply_ids for p in await store.inbox_pending()] == [ids]

    async def test_an_outcome_is_not_a_pending_status(self, store):
        await store.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
        for outcome in ("new", "turned", ""):
            with pytest.raises(ValueError, match="inbox outcome cannot be"):
                await store.inbox_finish("tg:1", outcome)
        await store.inbox_finish("tg:1", "dropped")
        assert await store.inbox_status("tg:1") == "dropped"
        await store.inbox_finish("tg:404")  # unknown (or purged): nothing to do

    # ---- retention ------------------------------------------------------------------------------
    async def test_purge_deletes_what_retention_no_longer_keeps(self, store, monkeypatch):
        day, t0 = 86400.0, 1_700_000_000.0
        now = [t0]
        monkeypatch.setattr("time.time", lambda: now[0])
        for chat in ("old", "new"):
            await store.add_incoming(chat, "text", f"{chat} question")
            await store.save_turn(chat, _state(chat), [Outgoing("say", f"{chat} answer")], [("flow_started", {})])
            await store.record_action(chat, "urge_seller", {})
            await store.inbox_add([InboxItem(f"tg:{chat}:done", chat, "{}", now[0]),
                                   InboxItem(f"tg:{chat}:open", chat, "{}", now[0])])
            await store.inbox_finish(f"tg:{chat}:done")
            now[0] += 200 * day  # "new" is written 200 days after "old"
        now[0] = t0 + 370 * day  # old is 370 days old, new 170

        assert await store.purge(now[0], Retention(0, 0, 0, 0)) == {"messages": 0, "turn_events": 0, "actions": 0,
                                                                   "inbox": 0}, "0 keeps forever"
        counts = await store.purge(now[0], Retention(transcript_days=180, analytics_days=365, actions_days=400,
                                                     inbox_days=7))
        assert counts == {"messages": 2, "turn_events": 1, "actions": 0, "inbox": 2}
        assert await store.transcript("old") == []
        assert [e.text for e in await store.transcript("new")] == ["new question", "new answer"]
        assert [e.chat_id for e in await store.analytics()] == ["new"]
        assert len(await store.actions()) == 2
        assert [p.key for p in await store.inbox_pending()] == ["tg:old:open", "tg:new:open"], "unfinished rows stay"
        assert await store.inbox_status("tg:new:done") is None
        assert (await store.load_state("old")).at.node == "old", "a conversation's state is never purged"
        assert await store.count_conversations() == 2
        again = await store.purge(now[0], Retention(180, 365, 400, 7))
        assert again == {"messages": 0, "turn_events": 0, "actions": 0, "inbox": 0}
        # writing goes on after a purge, with ids after the kept ones
        ids = await store.save_turn("old", _state(), [Outgoing("say", "back")], [])
        assert ids[0] > max(e.id for e in await store.transcript("new"))


def _write_and_die(path: str) -> None:
    """Child process: save a turn, then die without any clean-up."""
    import asyncio

    async def go():
        s = SqliteStore(path)
        await s.add_incoming("c1", "text", "hello")
        await s.save_turn("c1", _state("after_crash"), [Outgoing("say", "answered")], [])
        os._exit(0)  # no close(), no atexit: like a kill right after the reply was sent

    asyncio.run(go())


def test_sqlite_survives_a_killed_process(tmp_path):
    path = str(tmp_path / "crash.sqlite3")
    proc = multiprocessing.get_context("spawn").Process(target=_write_and_die, args=(path,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT text FROM messages ORDER BY id").fetchall() == [("hello",), ("answered",)]
    assert "after_crash" in conn.execute("SELECT state FROM conversations").fetchone()[0]


def _turn_and_die(path: str) -> None:
    """Child process: store two updates, save the first one's turn with its receipt, die before sending."""
    import asyncio

    async def go():
        s = SqliteStore(path)
        await s.inbox_add([InboxItem("tg:1", "c1", '{"update_id": 1}', 1.0),
                           InboxItem("tg:2", "c1", '{"update_id": 2}', 2.0)])
        await s.save_turn("c1", _state("answered"), [Outgoing("say", "reply")], [], receipt="tg:1",
                          followups=[{"kind": "handoff"}])
        os._exit(0)

    asyncio.run(go())


async def test_sqlite_inbox_tells_what_a_killed_process_left_to_do(tmp_path):
    path = str(tmp_path / "inbox-crash.sqlite3")
    proc = multiprocessing.get_context("spawn").Process(target=_turn_and_die, args=(path,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    store = SqliteStore(path)
    pending = await store.inbox_pending()
    assert [(p.key, p.status, p.followups) for p in pending] == [("tg:1", "turned", [{"kind": "handoff"}]),
                                                                ("tg:2", "new", [])]
    assert [(e.text, e.delivered) for e in await store.messages_by_id(pending[0].reply_ids)] == [("reply", None)]
    assert (await store.load_state("c1")).at.node == "answered"
    await store.close()


async def test_an_update_stored_by_one_process_is_a_repeat_for_another(tmp_path):
    a, b = SqliteStore(tmp_path / "shared.sqlite3"), SqliteStore(tmp_path / "shared.sqlite3")
    assert await a.inbox_add([InboxItem("tg:5", "c1", "{}", 1.0)]) == ["tg:5"]
    assert await b.inbox_add([InboxItem("tg:5", "c1", "{}", 1.0)]) == []
    await b.inbox_finish("tg:5")
    assert await a.inbox_status("tg:5") == "done"
    await a.close()
    await b.close()


async def test_two_stores_on_one_file_share_conversations(tmp_path):
    """A second process (here: a second connection) continues where the first left off."""
    a, b = SqliteStore(tmp_path / "shared.sqlite3"), SqliteStore(tmp_path / "shared.sqlite3")
    await a.save_turn("c1", _state("from_a"), [], [])
    assert (await b.load_state("c1")).at.node == "from_a"
    await b.save_turn("c1", _state("from_b"), [], [])
    assert (await a.load_state("c1")).at.node == "from_b", "a's cached state must not hide b's write"
    loaded = await a.load_state("c1")
    loaded.at.node = "changed, not saved"
    assert (await a.load_state("c1")).at.node == "from_b", "a loaded state is the caller's own copy"
    await a.close()
    await b.close()


async def test_concurrent_turns_share_one_commit_and_each_gets_its_own_ids(tmp_path):
    import asyncio

    store = SqliteStore(tmp_path / "group.sqlite3")
    commits = 0
    original = store._transaction

    def counting(ops):
        nonlocal commits
        commits += 1
        return original(ops)

    store._transaction = counting  # type: ignore[method-assign]
    results = await asyncio.gather(*(store.save_turn(f"c{i}", _state(f"n{i}"), [Outgoing("say", f"m{i}")], [])
                                     for i in range(50)))
    assert commits == 2, "the first write commits at once, the 49 issued in the same pass share one commit"
    assert len({ids[0] for ids in results}) == 50
    for i, ids in enumerate(results):
        assert [e.text for e in await store.transcript(f"c{i}")] == [f"m{i}"]
        assert (await store.transcript(f"c{i}"))[0].id == ids[0]
    await store.close()


async def test_a_lone_write_commits_without_waiting_for_the_event_loop(tmp_path):
    import asyncio

    store = SqliteStore(tmp_path / "alone.sqlite3")
    for i in range(3):  # one chat at a time: each turn is durable before anything else runs
        ran: list[int] = []
        asyncio.get_running_loop().call_soon(ran.append, 1)
        await store.save_turn("c1", _state(f"n{i}"), [Outgoing("say", f"m{i}")], [])
        assert ran == [], "the write waited for an event-loop pass"
        await asyncio.sleep(0)
        other = SqliteStore(tmp_path / "alone.sqlite3")  # durable: another connection sees it
        assert (await other.load_state("c1")).at.node == f"n{i}"
        await other.close()
    await store.close()


async def test_a_failing_write_does_not_fail_the_others_in_its_batch(tmp_path):
    import asyncio

    store = SqliteStore(tmp_path / "fail.sqlite3")

    def broken(c):
        c.execute("INSERT INTO no_such_table VALUES (1)")

    good = store.save_turn("ok", _state(), [Outgoing("say", "kept")], [])
    bad = store._write(broken)
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert isinstance(results[1], sqlite3.OperationalError)
    assert [e.text for e in await store.transcript("ok")] == ["kept"]
    await store.close()


async def test_agent_messages_join_the_transcript_in_order(tmp_path):
    for store in (MemoryStore(), SqliteStore(tmp_path / "agent.sqlite3")):
        await store.add_incoming("c1", "text", "где заказ?")
        await store.add_agent_message("c1", "text", "Проверяю, минуту", {"agent": "Alice"})
        entries = await store.transcript("c1")
        assert [(e.direction, e.text) for e in entries] == [("in", "где заказ?"), ("agent", "Проверяю, минуту")]
        assert entries[1].meta == {"agent": "Alice"}
        await store.close()


async def test_analytics_of_a_schema_1_database_are_kept_in_order(tmp_path):
    """Schema 1 kept one row per event; opening the file with this version moves them over."""
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, chat_id TEXT, name TEXT, data TEXT, at FLOAT)")
    conn.executemany("INSERT INTO events (chat_id, name, data, at) VALUES (?, ?, ?, ?)",
                     [("c1", "flow_started", '{"flow": "main_menu"}', 1.0),
                      ("c2", "not_understood", '{"count": 1}', 2.0)])
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    # reports open it read-only, beside a bot that has not migrated it yet
    assert [(e.name, e.at) for e in read_analytics(path, since=1.5)] == [("not_understood", 2.0)]
    store = SqliteStore(path)
    await store.save_turn("c1", _state(), [], [("flow_ended", {"flow": "main_menu", "outcome": "resolved"})])
    events = await store.analytics()
    assert [(e.chat_id, e.name, e.data) for e in events] == [
        ("c1", "flow_started", {"flow": "main_menu"}), ("c2", "not_understood", {"count": 1}),
        ("c1", "flow_ended", {"flow": "main_menu", "outcome": "resolved"})]
    assert [e.at for e in events[:2]] == [1.0, 2.0]
    await store.close()
    assert "events" not in [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")]


async def test_checkpoints_run_beside_the_writer_and_keep_the_wal_small(tmp_path):
    """Between bursts of writes a background checkpoint copies the WAL into the database, and the
    next write starts the WAL from its beginning: the file stops growing (without checkpoints every
    burst would add ~0.5 MB; the writer's own bound is ~40 MB). Close truncates it."""
    import asyncio

    path = tmp_path / "wal.sqlite3"
    store = SqliteStore(path, checkpoint_every=0.02)
    big = [Outgoing("say", "x" * 2000)] * 4
    wal = tmp_path / "wal.sqlite3-wal"
    sizes = []
    for round_ in range(30):
        for i in range(50):
            await store.save_turn(f"c{i}", _state(str(round_)), big, [("node_entered", {"flow": "f", "node": "n"})])
        sizes.append(wal.stat().st_size)
        await asyncio.sleep(0.1)  # a pause, as between bursts of updates
    written = 30 * 50 * 4 * 2000
    assert sizes[-1] == sizes[-10], f"the WAL keeps growing ({sizes[-10]} -> {sizes[-1]} bytes): no checkpoints"
    assert max(sizes) < written / 3, f"the WAL grew to {max(sizes)} bytes for {written} written"
    await store.close()
    assert not wal.exists() or wal.stat().st_size == 0, "the last checkpoint truncates the WAL"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 30 * 50 * 4


def test_a_state_copy_shares_no_mutable_container():
    """MemoryStore hands out copies: changing one must never change what is stored."""
    from dataclasses import fields

    original = ConversationState(lang="ru", lang_explicit=True, at=Position("f", "v", "n", "pick", 2), vars={"a": 1},
                                 order='{"x": 1}', verified=["1-2"], owner_failures={"1-2": 1}, locked=["3-4"],
                                 lookups=[1.0], not_understood=1, path=["f:n"], other_script=1)
    for cls, value in ((ConversationState, original), (Position, original.at)):
        defaults = cls() if cls is ConversationState else Position("", "", "")
        unset = [f.name for f in fields(cls) if getattr(value, f.name) == getattr(defaults, f.name)]
        assert not unset, f"give {unset} a non-default value here, so copy() is proven to carry them"
    copy = original.copy()
    for f in fields(ConversationState):
        value = getattr(original, f.name)
        if isinstance(value, (list, dict, Position)):
            assert getattr(copy, f.name) is not value, f"{f.name} is shared between a state and its copy"
    assert copy == original
