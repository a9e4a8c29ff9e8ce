"""Numbered migrations of the conversation database (data/conversations.sqlite3), for every table
the bot keeps there: the store's and the handoff's.

`PRAGMA user_version` holds the number of the last step applied. `migrate(conn)` applies the
missing steps in order, each in a transaction of its own (BEGIN IMMEDIATE) that also bumps
`user_version`, so a crash leaves the file at one step or the next, never between. The version is
read again under the write lock before each step: two connections opening the same file at once
(the store's and the handoff records') wait for each other, and every step runs once.

A file whose version is newer than this code knows is refused (`SchemaTooNew`): an older bot must
not write into a schema it does not understand.

Steps 1 and 2 are the store's schemas 1 and 2 as earlier versions of the bot wrote them (and
numbered them in `user_version`); step 3 adopts the handoff tables, which earlier versions created
without a version. Every step creates "if not exists": files made before numbering keep their rows,
and a file an older bot reopened after an upgrade (it wrote `user_version=2` at every start, whatever
the file held) upgrades again cleanly. Add a step at the end; never change a step that has shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Step = Callable[[sqlite3.Connection], None]


class SchemaTooNew(RuntimeError):
    """The file was written by a newer version of the bot."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # user_version once applied
    name: str
    apply: Step


def _script(*statements: str) -> Step:
    def apply(conn: sqlite3.Connection) -> None:
        for sql in statements:
            conn.execute(sql)

    return apply


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# 1: the store's first schema: state per chat, the transcript, analytics as one row per event, actions.
_store_schema_1 = _script(
    'CREATE TABLE IF NOT EXISTS "conversations" ("chat_id" TEXT PRIMARY KEY, "state" TEXT, "updated_at" REAL)',
    'CREATE TABLE IF NOT EXISTS "messages" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "direction" TEXT, '
    '"kind" TEXT, "text" TEXT, "meta" TEXT, "at" REAL, "delivered" INTEGER, "error" TEXT)',
    'CREATE INDEX IF NOT EXISTS "idx_messages_chat_id_id" ON "messages" ("chat_id", "id")',
    'CREATE TABLE IF NOT EXISTS "events" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "name" TEXT, "data" TEXT, '
    '"at" REAL)',
    'CREATE TABLE IF NOT EXISTS "actions" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "name" TEXT, "args" TEXT, '
    '"at" REAL)',
)


def _store_schema_2(conn: sqlite3.Connection) -> None:
    """A turn's analytics as one row (`turn_events`: a JSON list of [name, data]); `conversations.rev`."""
    _store_schema_1(conn)  # a file marked 1 by hand may lack some of schema 1's tables
    if "rev" not in _columns(conn, "conversations"):
        conn.execute('ALTER TABLE "conversations" ADD COLUMN "rev" INTEGER')
    # No index: only offline reports read them; retention walks them by id.
    conn.execute('CREATE TABLE IF NOT EXISTS "turn_events" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "events" TEXT, '
                 '"at" REAL)')
    if "events" in _tables(conn):  # one row per event, moved over in order
        conn.execute("INSERT INTO turn_events (chat_id, events, at) "
                     "SELECT chat_id, json_array(json_array(name, json(coalesce(data, '{}')))), at "
                     "FROM events ORDER BY id")
        conn.execute('DROP TABLE "events"')


# 3: the handoff's tables (bot/handoff/records.py), as it has created them since it was written.
_handoff_tables = _script(
    'CREATE TABLE IF NOT EXISTS "handoff_topics" ("chat_id" TEXT PRIMARY KEY, "thread_id" INTEGER, "name" TEXT, '
    '"buyer_name" TEXT, "username" TEXT, "lang" TEXT, "order_number" TEXT, "created_at" REAL, "updated_at" REAL)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_handoff_topics_thread_id" ON "handoff_topics" ("thread_id")',
    'CREATE TABLE IF NOT EXISTS "handoff_topic_log" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "thread_id" INTEGER, '
    '"at" REAL)',
    'CREATE INDEX IF NOT EXISTS "idx_handoff_topic_log_at" ON "handoff_topic_log" ("at")',
    'CREATE TABLE IF NOT EXISTS "handoff_sessions" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "flow_id" TEXT, '
    '"node_id" TEXT, "reason" TEXT, "status" TEXT, "started_at" REAL, "first_reply_at" REAL, "closed_at" REAL, '
    '"closed_by" TEXT, "rating" INTEGER, "announced_at" REAL)',
    'CREATE INDEX IF NOT EXISTS "idx_handoff_sessions_chat_id_status" ON "handoff_sessions" ("chat_id", "status")',
    'CREATE TABLE IF NOT EXISTS "handoff_relays" ("id" INTEGER PRIMARY KEY, "key" TEXT, "chat_id" TEXT, '
    '"session_id" INTEGER, "direction" TEXT, "op" TEXT, "src_chat" INTEGER, "src_message_id" INTEGER, '
    '"payload" TEXT, "status" TEXT, "attempts" INTEGER, "next_at" REAL, "error" TEXT, "dest_chat" INTEGER, '
    '"dest_message_id" INTEGER, "created_at" REAL, "sent_at" REAL)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_handoff_relays_key" ON "handoff_relays" ("key")',
    'CREATE INDEX IF NOT EXISTS "idx_handoff_relays_status_id" ON "handoff_relays" ("status", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_handoff_relays_chat_id_id" ON "handoff_relays" ("chat_id", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_handoff_relays_dest_chat_dest_message_id" '
    'ON "handoff_relays" ("dest_chat", "dest_message_id")',
    'CREATE TABLE IF NOT EXISTS "handoff_notes" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "session_id" INTEGER, '
    '"author_id" INTEGER, "author" TEXT, "text" TEXT, "at" REAL)',
    'CREATE TABLE IF NOT EXISTS "handoff_blocked" ("chat_id" TEXT PRIMARY KEY, "by" TEXT, "at" REAL)',
    'CREATE TABLE IF NOT EXISTS "handoff_notices" ("id" INTEGER PRIMARY KEY, "chat_id" TEXT, "action" TEXT, '
    '"args" TEXT, "message_id" INTEGER, "seen_by" TEXT, "seen_at" REAL, "at" REAL)',
)

# 4: the inbox of raw incoming updates (crash safety): stored by key before an update is confirmed to
# its channel; `status` new -> turned (the turn is saved: `replies` holds its message ids) -> an
# outcome (done, relayed, dropped...). The partial index keeps start-up's "what is unfinished" cheap.
_inbox = _script(
    'CREATE TABLE IF NOT EXISTS "inbox" ("id" INTEGER PRIMARY KEY, "key" TEXT NOT NULL, "chat_id" TEXT NOT NULL, '
    '"payload" TEXT NOT NULL, "at" REAL NOT NULL, "status" TEXT NOT NULL DEFAULT \'new\', "replies" TEXT, '
    '"followups" TEXT, "finished_at" REAL)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_inbox_key" ON "inbox" ("key")',
    'CREATE INDEX IF NOT EXISTS "idx_inbox_unfinished" ON "inbox" ("id") WHERE status IN (\'new\', \'turned\')',
)

# 5: the outcome of a request to staff (urge, cancel, compensation, return): done or declined with
# a reason, by whom and when; `seen_*` stays as it was ("Seen" is not an outcome).
def _notice_outcomes(conn: sqlite3.Connection) -> None:
    have = _columns(conn, "handoff_notices")
    columns = (("outcome", "TEXT"), ("outcome_reason", "TEXT"), ("outcome_by", "TEXT"), ("outcome_at", "REAL"))
    for column, kind in columns:
        if column not in have:
            conn.execute(f'ALTER TABLE "handoff_notices" ADD COLUMN "{column}" {kind}')


# 6: proof of ownership (bot/engine/lookup.py): every wrong answer (per order across buyers, per buyer
# across orders), the buyers locked out of an order (never rotated out, never purged), and signed
# links bound to the first buyer who opened them.
_ownership = _script(
    'CREATE TABLE IF NOT EXISTS "owner_wrong" ("id" INTEGER PRIMARY KEY, "order_number" TEXT NOT NULL, '
    '"buyer" TEXT NOT NULL, "at" REAL NOT NULL)',
    'CREATE INDEX IF NOT EXISTS "idx_owner_wrong_order" ON "owner_wrong" ("order_number", "buyer")',
    'CREATE INDEX IF NOT EXISTS "idx_owner_wrong_buyer_at" ON "owner_wrong" ("buyer", "at")',
    'CREATE TABLE IF NOT EXISTS "owner_locks" ("order_number" TEXT NOT NULL, "buyer" TEXT NOT NULL, '
    '"at" REAL NOT NULL, PRIMARY KEY ("order_number", "buyer"))',
    'CREATE TABLE IF NOT EXISTS "link_claims" ("link" TEXT PRIMARY KEY, "buyer" TEXT NOT NULL, "at" REAL NOT NULL)',
)

# 7: the order mirror (bot/orders/mirror, bot/store/mirror_sqlite.py): the shop's postings as last read
# (JSON) with the columns lookups and deadline checks query; the outbox of changes for the mirror's
# subscribers (unique by event key: each event once); sync high-water marks; Ozon push notifications
# as received (unique by body hash), until processed.
_order_mirror = _script(
    'CREATE TABLE IF NOT EXISTS "mirror_postings" ("posting_number" TEXT PRIMARY KEY, "order_number" TEXT NOT NULL, '
    '"status" TEXT NOT NULL, "shipment_at" REAL, "delivery_end_at" REAL, "created_at" REAL NOT NULL, '
    '"products" TEXT NOT NULL, "data" TEXT NOT NULL, "fetched_at" REAL NOT NULL, "state_at" REAL NOT NULL)',
    'CREATE INDEX IF NOT EXISTS "idx_mirror_postings_order" ON "mirror_postings" ("order_number")',
    'CREATE INDEX IF NOT EXISTS "idx_mirror_postings_status" ON "mirror_postings" ("status")',
    'CREATE TABLE IF NOT EXISTS "mirror_changes" ("id" INTEGER PRIMARY KEY, "key" TEXT NOT NULL, '
    '"posting_number" TEXT NOT NULL, "kind" TEXT NOT NULL, "detail" TEXT NOT NULL, "at" REAL NOT NULL, '
    '"source" TEXT NOT NULL, "data" TEXT NOT NULL, "delivered" INTEGER NOT NULL DEFAULT 0)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_mirror_changes_key" ON "mirror_changes" ("key")',
    'CREATE INDEX IF NOT EXISTS "idx_mirror_changes_pending" ON "mirror_changes" ("id") WHERE delivered = 0',
    'CREATE TABLE IF NOT EXISTS "mirror_marks" ("name" TEXT PRIMARY KEY, "value" TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "mirror_pushes" ("id" INTEGER PRIMARY KEY, "key" TEXT NOT NULL, '
    '"message_type" TEXT NOT NULL, "payload" TEXT NOT NULL, "received_at" REAL NOT NULL, '
    '"attempts" INTEGER NOT NULL DEFAULT 0, "done_at" REAL)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_mirror_pushes_key" ON "mirror_pushes" ("key")',
    'CREATE INDEX IF NOT EXISTS "idx_mirror_pushes_pending" ON "mirror_pushes" ("id") WHERE done_at IS NULL',
)

# 8: proactive messages (bot/notify):
# buyers' order watches with how far each posting has got in what they were told, and the outbox of
# proactive messages (unique key per buyer and event: never queued twice; due index for the sender).
_notify = _script(
    'CREATE TABLE IF NOT EXISTS "notify_watches" ("chat_id" TEXT NOT NULL, "posting_number" TEXT NOT NULL, '
    '"order_number" TEXT NOT NULL, "lang" TEXT NOT NULL DEFAULT \'\', "since" REAL NOT NULL, '
    '"last_rank" INTEGER NOT NULL DEFAULT -1, "last_at" REAL NOT NULL DEFAULT 0, '
    'PRIMARY KEY ("chat_id", "posting_number"))',
    'CREATE INDEX IF NOT EXISTS "idx_notify_watches_posting" ON "notify_watches" ("posting_number")',
    'CREATE TABLE IF NOT EXISTS "notify_outbox" ("id" INTEGER PRIMARY KEY, "key" TEXT NOT NULL, '
    '"chat_id" INTEGER NOT NULL, "thread_id" INTEGER, "payload" TEXT NOT NULL, '
    '"status" TEXT NOT NULL DEFAULT \'pending\', "attempts" INTEGER NOT NULL DEFAULT 0, "next_at" REAL NOT NULL, '
    '"error" TEXT NOT NULL DEFAULT \'\', "message_id" INTEGER, "created_at" REAL NOT NULL, "sent_at" REAL)',
    'CREATE UNIQUE INDEX IF NOT EXISTS "idx_notify_outbox_key" ON "notify_outbox" ("key")',
    'CREATE INDEX IF NOT EXISTS "idx_notify_outbox_due" ON "notify_outbox" ("next_at", "id") '
    'WHERE status = \'pending\'',
    'CREATE INDEX IF NOT EXISTS "idx_notify_outbox_chat" ON "notify_outbox" ("chat_id", "id")',
)

# 9: order mirror retention (MirrorStore.purge_postings, MIRROR_KEEP_DAYS): postings by status and
# latest status change (the old status-only index is its prefix, so it goes), changes by posting.
_mirror_retention = _script(
    'CREATE INDEX IF NOT EXISTS "idx_mirror_postings_status_state" ON "mirror_postings" ("status", "state_at")',
    'DROP INDEX IF EXISTS "idx_mirror_postings_status"',
    'CREATE INDEX IF NOT EXISTS "idx_mirror_changes_posting" ON "mirror_changes" ("posting_number")',
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "store schema 1: conversations, messages, events, actions", _store_schema_1),
    Migration(2, "store schema 2: turn_events (events moved over in order), conversations.rev", _store_schema_2),
    Migration(3, "handoff tables: topics, topic log, sessions, relays, notes, blocked, notices", _handoff_tables),
    Migration(4, "inbox of raw incoming updates", _inbox),
    Migration(5, "outcomes of requests to staff: handoff_notices.outcome, outcome_reason, outcome_by, outcome_at",
              _notice_outcomes),
    Migration(6, "ownership: wrong answers, locks, signed-link claims", _ownership),
    Migration(7, "order mirror: postings, changes outbox, sync marks, push notifications", _order_mirror),
    Migration(8, "proactive messages: buyers' order watches, the outbox of proactive messages", _notify),
    Migration(9, "order mirror retention: postings by status and state_at, changes by posting", _mirror_retention),
)
LATEST = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1)), "migrations are numbered 1, 2, 3, ..."


def _set_wal(conn: sqlite3.Connection, patience: float) -> None:
    """`PRAGMA journal_mode=WAL`, retried while another connection holds the file: SQLite answers
    a journal-mode change with "database is locked" at once, without its busy handler (measured:
    about 1 race in 300 with two migrators on a new file, more on a loaded machine)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_if_newer(version: int, latest: int, path: str) -> None:
    if version > latest:
        raise SchemaTooNew(f"{path or 'the database'} has schema version {version}, but this version of the bot "
                           f"knows versions up to {latest}: run a newer bot, or restore a backup made for this one")


def migrate(conn: sqlite3.Connection, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> tuple[int, int]:
    """Bring the database on `conn` to the latest schema; returns (version found, version now).

    `conn` must have no transaction open. Safe to call from several connections (or processes) on
    one file at once, and again on a file already migrated (nothing to do: one read). `migrations`
    (tests) must be numbered 1, 2, 3, ... like MIGRATIONS."""
    if conn.in_transaction:
        raise ValueError("migrate() needs a connection with no transaction open")
    path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    latest = migrations[-1].version if migrations else 0
    found = user_version(conn)
    _refuse_if_newer(found, latest, path)
    if found == latest:
        return found, found
    if int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) == 0:
        conn.execute("PRAGMA busy_timeout=5000")  # wait for a concurrent migrator instead of failing
    if path:  # WAL is a property of the file; setting it is a no-op once it is set
        _set_wal(conn, int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)  # again, under the write lock: another connection may have moved it
            _refuse_if_newer(version, latest, path)
            if version >= latest:
                conn.execute("COMMIT")
                return found, version
            step = migrations[version]
            step.apply(conn)
            conn.execute(f"PRAGMA user_version={step.version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def open_database(path: str) -> sqlite3.Connection:
    """A connection to the conversation database that every SQLite backend shares (the store, the
    handoff and notify records, the order mirror): autocommit (transactions are explicit), usable
    from worker threads, waiting up to 5 s for another writer, migrated, WAL + synchronous=NORMAL
    (a commit survives a killed process; only power loss can drop the newest ones)."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    migrate(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn
