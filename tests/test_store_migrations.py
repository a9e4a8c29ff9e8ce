"""Numbered migrations of the conversation database: files written by earlier versions of the bot
(their DDL written out here as those versions created it) upgrade without losing a row; a fresh
file and an upgraded one end with the same schema; a newer file is refused; migrators racing on
one file (the store's connection and the handoff's, or two processes) apply every step once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.store.migrations import (
    LATEST,
    MIGRATIONS,
    Migration,
    SchemaTooNew,
    migrate,
    user_version,
)
from bot.store.sqlite import SqliteStore

# The store's schema 1 (user_version 1), as sqlite-utils created it.
SCHEMA_1 = [
    "CREATE TABLE [conversations] ([chat_id] TEXT PRIMARY KEY, [state] TEXT, [updated_at] FLOAT)",
    ("CREATE TABLE [messages] ([id] INTEGER PRIMARY KEY, [chat_id] TEXT, [direction] TEXT, [kind] TEXT, [text] TEXT, "
     "[meta] TEXT, [at] FLOAT, [delivered] INTEGER, [error] TEXT)"),
    "CREATE INDEX [idx_messages_chat_id_id] ON [messages] ([chat_id], [id])",
    "CREATE TABLE [events] ([id] INTEGER PRIMARY KEY, [chat_id] TEXT, [name] TEXT, [data] TEXT, [at] FLOAT)",
    "CREATE INDEX [idx_events_at] ON [events] ([at])",
    "CREATE TABLE [actions] ([id] INTEGER PRIMARY KEY, [chat_id] TEXT, [name] TEXT, [args] TEXT, [at] FLOAT)",
    "PRAGMA user_version=1",
]
# The store's schema 2 (user_version 2): a new file (a schema-1 file upgraded got `rev` by ALTER TABLE).
SCHEMA_2 = [
    'CREATE TABLE "conversations" ("chat_id" TEXT PRIMARY KEY, "state" TEXT, "updated_at" REAL, "rev" INTEGER)',
    ('CREATE TABLE "messages" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "direction" TEXT, "kind" TEXT, "text" TEXT, '
     '"meta" TEXT, "at" REAL, "delivered" INTEGER, "error" TEXT)'),
    'CREATE INDEX "idx_messages_chat_id_id" ON "messages" ("chat_id", "id")',
    'CREATE TABLE "turn_events" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "events" TEXT, "at" REAL)',
    'CREATE TABLE "actions" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "name" TEXT, "args" TEXT, "at" REAL)',
    "PRAGMA user_version=2",
]
# The handoff's tables as bot/handoff/records.py created them ("if not in table_names"; no version).
HANDOFF = [
    ('CREATE TABLE "handoff_topics" ("chat_id" TEXT PRIMARY KEY, "thread_id" INTEGER, "name" TEXT, "buyer_name" TEXT, '
     '"username" TEXT, "lang" TEXT, "order_number" TEXT, "created_at" REAL, "updated_at" REAL)'),
    'CREATE UNIQUE INDEX "idx_handoff_topics_thread_id" ON "handoff_topics" ("thread_id")',
    'CREATE TABLE "handoff_topic_log" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "thread_id" INTEGER, "at" REAL)',
    'CREATE INDEX "idx_handoff_topic_log_at" ON "handoff_topic_log" ("at")',
    ('CREATE TABLE "handoff_sessions" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "flow_id" TEXT, "node_id" TEXT, '
     '"reason" TEXT, "status" TEXT, "started_at" REAL, "first_reply_at" REAL, "closed_at" REAL, "closed_by" TEXT, '
     '"rating" INTEGER, "announced_at" REAL)'),
    'CREATE INDEX "idx_handoff_sessions_chat_id_status" ON "handoff_sessions" ("chat_id", "status")',
    ('CREATE TABLE "handoff_relays" ("id" INTEGER PRIMARY KEY, "key" TEXT, "chat_id" TEXT, "session_id" INTEGER, '
     '"direction" TEXT, "op" TEXT, "src_chat" INTEGER, "src_message_id" INTEGER, "payload" TEXT, "status" TEXT, '
     '"attempts" INTEGER, "next_at" REAL, "error" TEXT, "dest_chat" INTEGER, "dest_message_id" INTEGER, '
     '"created_at" REAL, "sent_at" REAL)'),
    'CREATE UNIQUE INDEX "idx_handoff_relays_key" ON "handoff_relays" ("key")',
    'CREATE INDEX "idx_handoff_relays_status_id" ON "handoff_relays" ("status", "id")',
    'CREATE INDEX "idx_handoff_relays_chat_id_id" ON "handoff_relays" ("chat_id", "id")',
    # added later, "if not exists": files made before that lack it
    ('CREATE TABLE "handoff_notes" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "session_id" INTEGER, '
     '"author_id" INTEGER, "author" TEXT, "text" TEXT, "at" REAL)'),
    'CREATE TABLE "handoff_blocked" ("chat_id" TEXT PRIMARY KEY, "by" TEXT, "at" REAL)',
    ('CREATE TABLE "handoff_notices" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "action" TEXT, "args" TEXT, '
     '"message_id" INTEGER, "seen_by" TEXT, "seen_at" REAL, "at" REAL)'),
]
STATE = '{"lang":"ru","at":{"flow":"main_menu","version":"v1","node":"menu"}}'
HANDOFF_TABLES = ["handoff_topics", "handoff_topic_log", "handoff_sessions", "handoff_relays", "handoff_notes",
                  "handoff_blocked", "handoff_notices"]


def _build(path: Path, *scripts: list[str]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for script in scripts:
        for sql in script:
            conn.execute(sql)
    conn.close()


def _fill_store(path: Path, schema: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    if schema == 1:
        conn.execute("INSERT INTO conversations VALUES ('c1', ?, 1.0)", (STATE,))
        conn.executemany("INSERT INTO events (chat_id, name, data, at) VALUES (?, ?, ?, ?)",
                         [("c1", "flow_started", '{"flow": "main_menu"}', 1.0), ("c2", "not_understood", None, 2.0)])
    else:
        conn.execute("INSERT INTO conversations VALUES ('c1', ?, 1.0, 42)", (STATE,))
        conn.execute("INSERT INTO turn_events (chat_id, events, at) VALUES "
                     "('c1', '[[\"flow_started\",{\"flow\":\"main_menu\"}]]', 1.0), "
                     "('c2', '[[\"not_understood\",{}]]', 2.0)")
    conn.executemany("INSERT INTO messages (chat_id, direction, kind, text, meta, at, delivered) VALUES "
                     "(?, ?, 'text', ?, '{}', ?, ?)",
                     [("c1", "in", "где заказ?", 1.0, None), ("c1", "out", "Меню", 1.5, 1)])
    conn.execute("INSERT INTO actions (chat_id, name, args, at) "
                 "VALUES ('c1', 'urge_seller', '{\"posting\": \"1-2-3\"}', 1.7)")
    conn.close()


def _fill_handoff(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO handoff_topics VALUES ('c1', 77, 'Ivan', 'Ivan', 'ivan', 'ru', '1-2', 1.0, 1.0)")
    conn.execute("INSERT INTO handoff_sessions (chat_id, reason, status, started_at) "
                 "VALUES ('c1', 'agent', 'open', 1.0)")
    conn.execute("INSERT INTO handoff_relays "
                 "(key, chat_id, direction, op, payload, status, attempts, next_at, created_at) "
                 "VALUES ('k1', 'c1', 'to_topic', 'copy', '{}', 'pending', 0, 0, 1.0)")
    conn.execute("INSERT INTO handoff_notes (chat_id, author, text, at) VALUES ('c1', 'Alice', 'VIP', 1.0)")
    conn.execute("INSERT INTO handoff_blocked VALUES ('spam', 'Alice', 1.0)")
    conn.execute("INSERT INTO handoff_notices (chat_id, action, args, at) VALUES ('c1', 'open_return', '{}', 1.0)")
    conn.execute("INSERT INTO handoff_topic_log (chat_id, thread_id, at) VALUES ('c1', 77, 1.0)")
    conn.close()


def _schema(path: Path) -> dict[str, object]:
    """Tables with their columns (name, declared affinity) and indexes with their columns."""
    conn = sqlite3.connect(path)
    out: dict[str, object] = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        cols = [(r[1], {"FLOAT": "REAL"}.get(r[2], r[2]), r[5]) for r in conn.execute(f'PRAGMA table_info("{table}")')]
        out[table] = sorted(cols)
        for idx in conn.execute(f'PRAGMA index_list("{table}")'):
            if not idx[1].startswith("sqlite_autoindex"):
                out[f"{table}.{idx[1]}"] = ([r[2] for r in conn.execute(f'PRAGMA index_info("{idx[1]}")')], idx[2])
    conn.close()
    return out


def _fresh_schema(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "fresh.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.close()
    return _schema(path)


def test_a_fresh_file_gets_every_table(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn) == (0, LATEST)
    assert user_version(conn) == LATEST == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"conversations", "messages", "turn_events", "actions", "inbox", *HANDOFF_TABLES,
                      "owner_wrong", "owner_locks", "link_claims",
                      "mirror_postings", "mirror_changes", "mirror_marks", "mirror_pushes"}
    assert migrate(conn) == (LATEST, LATEST), "idempotent: a migrated file is left alone"
    conn.close()


def test_an_in_memory_database_migrates_too():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert migrate(conn) == (0, LATEST)


@pytest.mark.parametrize("with_handoff", [False, True], ids=["store-only", "with-handoff"])
async def test_a_schema_1_file_upgrades_without_losing_rows(tmp_path, with_handoff):
    path = tmp_path / "v1.sqlite3"
    _build(path, SCHEMA_1, HANDOFF if with_handoff else [])
    _fill_store(path, 1)
    if with_handoff:
        _fill_handoff(path)
    store = SqliteStore(path)
    assert (await store.load_state("c1")).at.node == "menu"
    assert [(e.direction, e.text, e.delivered) for e in await store.transcript("c1")] == [
        ("in", "где заказ?", None), ("out", "Меню", True)]
    events = await store.analytics()
    assert [(e.chat_id, e.name, e.data, e.at) for e in events] == [
        ("c1", "flow_started", {"flow": "main_menu"}, 1.0), ("c2", "not_understood", {}, 2.0)]
    assert [(a["name"], a["args"]) for a in await store.actions()] == [("urge_seller", {"posting": "1-2-3"})]
    await store.save_turn("c1", (await store.load_state("c1")), [], [("flow_ended", {})])
    assert len(await store.analytics()) == 3
    await store.close()
    _assert_upgraded(path, tmp_path, with_handoff)


@pytest.mark.parametrize("with_handoff", [False, True], ids=["store-only", "with-handoff"])
async def test_a_schema_2_file_upgrades_without_losing_rows(tmp_path, with_handoff):
    path = tmp_path / "v2.sqlite3"
    _build(path, SCHEMA_2, HANDOFF if with_handoff else [])
    _fill_store(path, 2)
    if with_handoff:
        _fill_handoff(path)
    store = SqliteStore(path)
    assert (await store.load_state("c1")).at.node == "menu"
    assert [e.text for e in await store.transcript("c1")] == ["где заказ?", "Меню"]
    assert [(e.chat_id, e.name) for e in await store.analytics()] == [("c1", "flow_started"), ("c2", "not_understood")]
    assert len(await store.actions()) == 1
    await store.close()
    _assert_upgraded(path, tmp_path, with_handoff)


async def test_a_file_the_handoff_created_first_keeps_its_rows(tmp_path):
    """Before numbering, the handoff records could open the file first (user_version 0, its tables only)."""
    path = tmp_path / "h.sqlite3"
    _build(path, HANDOFF)
    _fill_handoff(path)
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn) == (0, LATEST)
    conn.close()
    _assert_upgraded(path, tmp_path, True)


def _assert_upgraded(path: Path, tmp_path: Path, with_handoff: bool) -> None:
    assert _schema(path) == _fresh_schema(tmp_path), "an upgraded file has the same schema as a fresh one"
    conn = sqlite3.connect(path)
    assert user_version(conn) == LATEST
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in HANDOFF_TABLES}
    assert counts == dict.fromkeys(HANDOFF_TABLES, 1 if with_handoff else 0)
    if with_handoff:
        assert conn.execute("SELECT thread_id, order_number FROM handoff_topics").fetchone() == (77, "1-2")
        assert conn.execute("SELECT key, status FROM handoff_relays").fetchone() == ("k1", "pending")
    conn.close()


def test_a_file_from_a_newer_bot_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite3"
    _build(path, SCHEMA_2, [f"PRAGMA user_version={LATEST + 1}"])
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST + 1}.*up to {LATEST}"):
        SqliteStore(path)
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(SchemaTooNew):
        migrate(conn)
    assert user_version(conn) == LATEST + 1
    assert "inbox" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()


def test_a_failing_step_leaves_the_file_at_the_step_before(tmp_path):
    path = tmp_path / "fail.sqlite3"

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk on fire")

    steps = (*MIGRATIONS[:2], Migration(3, "broken", broken))
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError, match="disk on fire"):
        migrate(conn, migrations=steps)
    assert user_version(conn) == 2, "steps 1 and 2 stay applied, each in its own transaction"
    assert "half_done" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert not conn.in_transaction
    assert migrate(conn) == (2, LATEST)
    conn.close()


def test_migrate_refuses_a_connection_inside_a_transaction(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    conn.execute("BEGIN")
    with pytest.raises(ValueError, match="no transaction open"):
        migrate(conn)


@pytest.mark.parametrize("start", ["fresh", "schema-1"])
def test_two_connections_migrating_at_once_apply_each_step_once(tmp_path, start):
    """The store's connection and the handoff records' open the same file at start-up."""
    for round_ in range(8):
        path = tmp_path / f"race{round_}.sqlite3"
        if start == "schema-1":
            _build(path, SCHEMA_1, HANDOFF)
            _fill_store(path, 1)
            _fill_handoff(path)
        barrier = threading.Barrier(2)
        results: list[object] = []

        def run(path: Path = path, barrier: threading.Barrier = barrier, results: list[object] = results) -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=5000")
            barrier.wait()
            try:
                results.append(migrate(conn))
            except Exception as exc:  # noqa: BLE001 - reported below
                results.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert all(isinstance(r, tuple) and r[1] == LATEST for r in results), results
        conn = sqlite3.connect(path)
        assert user_version(conn) == LATEST
        if start == "schema-1":
            assert conn.execute("SELECT count(*) FROM turn_events").fetchone()[0] == 2, "events moved once"
            assert conn.execute("SELECT count(*) FROM handoff_topics").fetchone()[0] == 1
        conn.close()


def _migrate_in_child(path: str, queue) -> None:  # spawn target
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        queue.put(migrate(conn))
    except Exception as exc:  # noqa: BLE001 - the parent asserts on what it gets
        queue.put(repr(exc))


def test_processes_migrating_at_once_apply_each_step_once(tmp_path):
    path = tmp_path / "procs.sqlite3"
    _build(path, SCHEMA_1)
    _fill_store(path, 1)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_migrate_in_child, args=(str(path), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(isinstance(r, tuple) and r[1] == LATEST for r in results), results
    conn = sqlite3.connect(path)
    assert user_version(conn) == LATEST
    assert conn.execute("SELECT count(*) FROM turn_events").fetchone()[0] == 2
    conn.close()


async def test_a_file_an_older_bot_marked_2_again_upgrades_again(tmp_path):
    """Bots before numbering wrote user_version=2 at every start, whatever the file held."""
    from bot.store.base import InboxItem

    path = tmp_path / "back.sqlite3"
    store = SqliteStore(path)
    await store.inbox_add([InboxItem("tg:1", "c1", "{}", 1.0)])
    await store.close()
    _build(path, ["PRAGMA user_version=2"])
    store = SqliteStore(path)
    assert [p.key for p in await store.inbox_pending()] == ["tg:1"]
    await store.close()
    assert user_version(sqlite3.connect(path)) == LATEST
