"""The PostgreSQL backend as the app uses it: DATABASE_URL selects it, its numbered migrations run
once however many processes start at once, a newer schema is refused, and a whole conversation runs
on it as on SQLite. The contract suites (test_store_contract.py, test_handoff_records_contract.py)
run every method against it; this file covers what lies around them."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.app import build_app
from bot.engine.state import ConversationState, Position
from bot.handoff.records import TO_TOPIC
from bot.handoff.records_backend import open_records
from bot.handoff.records_pg import PgHandoffRecords
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.notify.records_backend import open_notify_records
from bot.notify.records_pg import PgNotifyRecords
from bot.notify.records_sqlite import SqliteNotifyRecords
from bot.orders.demo import DemoOrderProvider, seed
from bot.settings import Settings
from bot.store.backend import open_store
from bot.store.base import INBOX_BUSY, InboxItem, Outgoing
from bot.store.migrations import SchemaTooNew
from bot.store.pg_migrations import LATEST, MIGRATIONS, PgMigration, migrate, schema_version
from bot.store.postgres import PgStore, StaleTurn
from bot.store.sqlite import SqliteStore
from tests.conftest import NOW, ChatDriver


def _settings(tmp_path, url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url, _env_file=None)  # type: ignore[call-arg]


async def test_database_url_selects_the_backend(tmp_path, pg_url):
    pg, embedded = _settings(tmp_path, pg_url), _settings(tmp_path, None)
    for settings, store_cls, records_cls, notify_cls in (
            (pg, PgStore, PgHandoffRecords, PgNotifyRecords),
            (embedded, SqliteStore, SqliteHandoffRecords, SqliteNotifyRecords)):
        store, records, notify = open_store(settings), open_records(settings), open_notify_records(settings)
        assert isinstance(store, store_cls) and isinstance(records, records_cls)
        assert isinstance(notify, notify_cls)
        await store.close()
        await records.close()
        await notify.close()
    with pytest.raises(SystemExit, match="postgresql://"):
        open_store(_settings(tmp_path, "mysql://localhost/bot"))


async def test_a_conversation_runs_on_postgresql_and_a_second_app_continues_it(tmp_path, pg_url, catalogs, clock):
    settings = _settings(tmp_path, pg_url)
    settings.data_dir.mkdir(parents=True)
    seed(settings.demo_orders_path, now=NOW)
    apps = [build_app(settings, catalogs=catalogs, clock=clock, orders=DemoOrderProvider(settings.demo_orders_path))
            for _ in range(2)]
    assert all(isinstance(a.store, PgStore) and isinstance(a.notify, PgNotifyRecords) for a in apps)
    assert await apps[0].notify.watch("pg-buyer", "1-2-3", "1-2", "ru", 1.0)
    assert not await apps[1].notify.watch("pg-buyer", "1-2-3", "1-2", "zh", 2.0), "one watch for all processes"
    first, second = ChatDriver(apps[0], "pg-buyer"), ChatDriver(apps[1], "pg-buyer")
    await first.send("/start")
    assert first.buttons, "the menu offers buttons"
    second.last = first.last  # the buyer's next update reaches the other process
    await second.press(first.buttons[0])
    state = await apps[0].store.load_state("pg-buyer")
    assert state is not None and state.at is not None
    assert state.at.node == (await apps[1].store.load_state("pg-buyer")).at.node
    entries = await apps[0].store.transcript("pg-buyer")
    assert [e.direction for e in entries][:2] == ["in", "out"] and entries[-1].direction == "out"
    assert sum(e.direction == "in" for e in entries) == 2
    for a in apps:
        await a.close()


async def test_migrations_run_once_when_processes_start_together(pg_url):
    conns = [await asyncpg.connect(pg_url) for _ in range(4)]
    results = await asyncio.gather(*(migrate(c) for c in conns))
    assert sorted(now for _, now in results) == [LATEST] * 4
    assert sum(found == 0 for found, _ in results) >= 1
    assert await schema_version(conns[0]) == LATEST
    assert await conns[0].fetchval("SELECT count(*) FROM schema_version") == 1
    assert await migrate(conns[1]) == (LATEST, LATEST), "a migrated database is left as it is"
    for c in conns:
        await c.close()


async def test_a_new_step_applies_on_top_and_a_newer_database_is_refused(pg_url):
    conn = await asyncpg.connect(pg_url)
    await migrate(conn)
    await conn.execute("INSERT INTO conversations (chat_id, state) VALUES ('kept', '{}')")
    step = PgMigration(LATEST + 1, "test: a column", ("ALTER TABLE conversations ADD COLUMN extra text",))
    assert await migrate(conn, migrations=(*MIGRATIONS, step)) == (LATEST, LATEST + 1)
    assert await conn.fetchval("SELECT chat_id FROM conversations WHERE extra IS NULL") == "kept"
    with pytest.raises(SchemaTooNew, match=f"version {LATEST + 1}"):
        await migrate(conn)  # this code knows only up to LATEST
    await conn.close()


async def test_a_failing_step_leaves_the_version_where_it_was(pg_url):
    conn = await asyncpg.connect(pg_url)
    broken = PgMigration(LATEST + 1, "test: broken", ("CREATE TABLE half_made (x int)", "SELECT no_such_column"))
    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(conn, migrations=(*MIGRATIONS, broken))
    assert await schema_version(conn) == LATEST
    assert await conn.fetchval("SELECT to_regclass('half_made')") is None, "the step's transaction rolled back"
    await conn.close()


# ---- several processes: leases, the turn lock, the revision check ---------------------------------

def _state(node: str) -> ConversationState:
    return ConversationState(lang="ru", at=Position("main_menu", "v1", node))


async def test_an_inbox_row_is_one_process_s_until_its_lease_runs_out(pg_url):
    a, b = PgStore(pg_url), PgStore(pg_url)
    await a.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
    assert await a.inbox_claim("tg:1", lease=0.3) == "new"
    assert await b.inbox_claim("tg:1", lease=0.3) == INBOX_BUSY, "a live lease keeps the row its holder's"
    await asyncio.sleep(0.35)
    assert await b.inbox_claim("tg:1", lease=30) == "new", "a lease that ran out: the holder died, b takes over"
    await b.save_turn("c1", _state("x"), [], [], receipt="tg:1")
    await b.inbox_release("tg:1")
    assert await a.inbox_claim("tg:1", lease=30) == "turned", "released: a retry completes the turned update"
    await a.inbox_finish("tg:1")
    assert await b.inbox_claim("tg:1", lease=30) == "done", "finished: nothing to do"
    with pytest.raises(KeyError):
        await a.inbox_claim("tg:never-stored", lease=1)
    await a.close()
    await b.close()


async def test_storing_and_claiming_an_update_is_one_step_with_the_same_answers(pg_url):
    a, b = PgStore(pg_url), PgStore(pg_url)
    item = InboxItem("tg:7", "c1", '{"update_id": 7}', 1.0)
    assert await a.inbox_store_claim(item, lease=30) == "new"
    assert await b.inbox_store_claim(item, lease=30) == INBOX_BUSY, "a repeat while the first process holds it"
    assert [p.payload for p in await b.inbox_pending()] == ['{"update_id": 7}'], "stored once"
    await a.inbox_finish("tg:7")
    assert await b.inbox_store_claim(item, lease=30) == "done"
    await a.close()
    await b.close()


async def test_a_held_row_answers_its_status_from_memory_and_only_while_held(pg_url):
    """While this process holds an update (its lease), nobody else changes its row: its status is
    answered without a round trip; a turn makes it read again; releasing forgets it."""
    a, b = PgStore(pg_url), PgStore(pg_url)
    await a.inbox_store_claim(InboxItem("tg:1", "c1", "{}", 1.0), lease=30)
    await b.inbox_finish("tg:1", "dropped")  # never happens while a holds it: shows the memory is used
    assert await a.inbox_status("tg:1") == "new"
    await a.save_turn("c1", _state("x"), [], [], receipt="tg:1")
    assert await a.inbox_status("tg:1") == "dropped", "after a turn with its receipt: read from the database"
    await a.inbox_release("tg:1")
    await a.inbox_add([InboxItem("tg:2", "c1", "{}", 1.0)])
    assert await a.inbox_store_claim(InboxItem("tg:2", "c1", "{}", 1.0), lease=30) == "new"
    await a.inbox_finish("tg:2")
    assert await a.inbox_status("tg:2") == "done"
    await a.inbox_release("tg:2")
    assert a._held == {}, "released rows are forgotten"
    await a.close()
    await b.close()


async def test_recover_leaves_a_relay_another_process_is_sending(pg_url):
    sender, restarted = PgHandoffRecords(pg_url, lease=0.3), PgHandoffRecords(pg_url, lease=0.3)
    rid = await sender.enqueue("k1", "c1", TO_TOPIC, "send", {"text": "x"}, 1.0)
    assert await sender.claim(rid)
    assert await restarted.recover() == 0, "the sender is alive (its lease runs): not interrupted"
    assert await restarted.release_expired() == 0
    assert not await restarted.claim(rid)
    await asyncio.sleep(0.35)
    assert await restarted.recover() == 1, "the lease ran out: the sender died mid-send"
    assert await restarted.claim(rid)
    await asyncio.sleep(0.35)
    assert await sender.release_expired() == 1, "the running processes' periodic job takes it back too"
    assert [r.id for r in await sender.due(None)] == [rid]
    await sender.close()
    await restarted.close()


async def test_turns_of_one_chat_never_overlap_across_processes(pg_url):
    """Two stores (two processes) run a read-modify-write turn of one chat 20 times each, at once:
    under the turn lock no increment is lost."""
    stores = [PgStore(pg_url), PgStore(pg_url)]
    await stores[0].save_turn("c1", ConversationState(lang="ru", vars={"n": 0}), [], [])

    async def bump(store: PgStore) -> None:
        async with store.turn("c1"):
            state = await store.load_state("c1")
            await asyncio.sleep(0.002)  # the engine thinks: the other process must wait, not interleave
            state.vars["n"] += 1
            await store.save_turn("c1", state, [Outgoing("say", f"n={state.vars['n']}")], [])

    await asyncio.gather(*(bump(s) for s in stores for _ in range(20)))
    assert (await stores[1].load_state("c1")).vars["n"] == 40
    texts = [e.text for e in await stores[0].transcript("c1")]
    assert texts == [f"n={i}" for i in range(1, 41)], "every turn saw the one before it"
    for s in stores:
        await s.close()


async def test_a_write_that_bypassed_the_lock_fails_the_turn_instead_of_being_overwritten(pg_url):
    store, other = PgStore(pg_url), PgStore(pg_url)
    await store.save_turn("c1", _state("a"), [], [])

    async def racing_turn() -> None:
        async with store.turn("c1"):
            await store.load_state("c1")
            await other.save_turn("c1", _state("written elsewhere"), [], [])  # no turn(): no lock taken
            await store.save_turn("c1", _state("b"), [Outgoing("say", "lost")], [])

    with pytest.raises(StaleTurn):
        await racing_turn()
    assert (await store.load_state("c1")).at.node == "written elsewhere"
    assert [e.text for e in await store.transcript("c1")] == [], "the failed turn left nothing behind"
    await store.close()
    await other.close()


async def test_an_update_is_turned_once_even_when_two_processes_run_it(pg_url):
    a, b = PgStore(pg_url), PgStore(pg_url)
    await a.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
    async with a.turn("c1"):
        await a.load_state("c1")
        await a.save_turn("c1", _state("first"), [Outgoing("say", "once")], [], receipt="tg:1")

    async def second_run() -> None:
        async with b.turn("c1"):
            await b.load_state("c1")
            await b.save_turn("c1", _state("second"), [Outgoing("say", "twice")], [], receipt="tg:1")

    with pytest.raises(StaleTurn, match="another process"):
        await second_run()
    assert [e.text for e in await a.transcript("c1")] == ["once"]
    assert (await a.load_state("c1")).at.node == "first"
    await a.close()
    await b.close()


async def test_processes_claiming_one_relay_at_once_send_it_once(pg_url):
    records = [PgHandoffRecords(pg_url) for _ in range(4)]
    ids = [await records[0].enqueue(f"k{i}", "c1", TO_TOPIC, "send", {"text": str(i)}, 1.0) for i in range(30)]
    wins = await asyncio.gather(*(r.claim(rid) for rid in ids for r in records))
    assert sum(wins) == 30, "each relay claimed by exactly one of the four"
    assert all(r.status == "sending" and r.attempts == 1 for r in await records[0].relays())
    for r in records:
        await r.close()


async def test_a_held_update_s_last_reply_is_marked_with_its_outcome_and_never_lost(pg_url):
    """The webhook's last round trip: the last reply's delivery mark of a held update (a turn without
    follow-ups) is written with the update's outcome; earlier replies are marked at once; an update
    released unfinished still gets its mark."""
    a, b = PgStore(pg_url), PgStore(pg_url)

    async def delivered(chat: str) -> list[bool | None]:
        return [e.delivered for e in await b.transcript(chat)]

    await a.inbox_store_claim(InboxItem("tg:1", "c1", "{}", 1.0), lease=30)
    first, last = await a.save_turn("c1", _state("x"), [Outgoing("say", "one"), Outgoing("say", "two")], [],
                                    receipt="tg:1")
    await a.mark_delivery(first, True)
    assert await delivered("c1") == [True, None], "an earlier reply is marked at once"
    await a.mark_delivery(last, True)
    assert await delivered("c1") == [True, None], "the last one waits for the outcome"
    await a.inbox_finish("tg:1", "done")
    assert await delivered("c1") == [True, True]
    assert await b.inbox_status("tg:1") == "done"
    await a.inbox_release("tg:1")

    await a.inbox_store_claim(InboxItem("tg:2", "c2", "{}", 1.0), lease=30)
    (only,) = await a.save_turn("c2", _state("x"), [Outgoing("say", "three")], [], receipt="tg:2")
    await a.mark_delivery(only, False, "forbidden")
    await a.inbox_release("tg:2")  # its handling failed before the outcome: the mark is written anyway
    assert await delivered("c2") == [False]
    assert [e.meta.get("error") for e in await b.transcript("c2")] == ["forbidden"]
    assert await b.inbox_status("tg:2") == "turned"

    await a.inbox_store_claim(InboxItem("tg:3", "c3", "{}", 1.0), lease=30)
    (relay,) = await a.save_turn("c3", _state("x"), [Outgoing("say", "four")], [], receipt="tg:3",
                                 followups=[{"handoff": "x"}])
    await a.mark_delivery(relay, True)
    assert await delivered("c3") == [True], "a turn with follow-ups: marked at once (they may send)"
    await a.inbox_release("tg:3")
    assert a._last_reply == {} and a._marks == {}
    await a.close()
    await b.close()


async def test_updates_arriving_together_are_stored_and_claimed_in_one_statement(pg_url):
    a, b = PgStore(pg_url), PgStore(pg_url)
    items = [InboxItem(f"tg:{i}", f"c{i}", f'{{"update_id": {i}}}', 1.0) for i in range(40)]
    await a.inbox_store_claim(InboxItem("tg:held", "c0", "{}", 1.0), lease=30)  # the pool is open
    await a.inbox_store_claim(items[5], lease=30)
    await a.inbox_finish("tg:5")
    before = a._claims.batches
    # 40 new updates, one of them twice, one already handled, one held by another process
    await b.inbox_store_claim(InboxItem("tg:b", "cb", "{}", 1.0), lease=30)
    answers = await asyncio.gather(*(a.inbox_store_claim(i, lease=30) for i in [*items, items[7]]),
                                   a.inbox_store_claim(InboxItem("tg:b", "cb", "{}", 1.0), lease=30))
    assert a._claims.batches - before <= 2, "one statement (two at most), not 42"
    assert answers[:5] == ["new"] * 5 and answers[5] == "done" and answers[6:40] == ["new"] * 34
    assert answers[40] == INBOX_BUSY, "the same update twice at once: the first request holds it"
    assert answers[41] == INBOX_BUSY, "another process holds it"
    assert len([p for p in await b.inbox_pending() if p.key.startswith("tg:") and p.key[3:].isdigit()]) == 39
    await a.close()
    await b.close()


async def test_outcomes_recorded_together_go_in_one_statement_each_its_own(pg_url):
    store = PgStore(pg_url)
    for i in range(6):
        await store.inbox_store_claim(InboxItem(f"tg:{i}", "c1", "{}", 1.0), lease=30)
    ids = await store.save_turn("c1", _state("x"), [Outgoing("text", "a"), Outgoing("text", "b")], [],
                                receipt="tg:0")
    await store.mark_delivery(ids[-1], True)  # deferred: written with tg:0's outcome
    before = store._finishes.batches
    outcomes = ["done", "failed", "dropped", "done", "failed", "done"]
    await asyncio.gather(*(store.inbox_finish(f"tg:{i}", o) for i, o in enumerate(outcomes)),
                         store.inbox_finish("tg:1", "done"))  # a second outcome never replaces the first
    assert store._finishes.batches - before == 1
    pool = await store._pool.get()
    rows = dict(await pool.fetch("SELECT key, status FROM inbox WHERE key LIKE 'tg:%'"))
    assert rows == {f"tg:{i}": o for i, o in enumerate(outcomes)}
    assert [e.delivered for e in await store.messages_by_id(ids)] == [None, True], "the last reply's mark came along"
    await store.close()
