"""SQLite store (WAL). All of its SQL lives in this module, so another backend is one file.

bot/store/migrations.py creates and migrates the schema (numbered steps, `PRAGMA user_version`); the
hot path uses parameterised sqlite3 directly (sqlite-utils costs about 5x per single-row write).

Writes use group commit: the first write of an event-loop pass commits at once; the writes issued
after it in the same pass (many chats at once) go into one transaction. Every write method returns
only after its transaction committed, so a killed process loses nothing that was acknowledged, and
a reply is sent only after its turn is durable. WAL checkpoints run in a thread of their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from random import getrandbits
from typing import Any, TypeVar

from pydantic_core import to_json

from bot.engine.lookup import OwnerRecord
from bot.engine.state import ConversationState
from bot.store.base import (
    INBOX_NEW,
    INBOX_TURNED,
    PURGE_BATCH,
    PURGE_PAUSE,
    PURGED_TABLES,
    AnalyticsEvent,
    InboxItem,
    Outgoing,
    PendingUpdate,
    Retention,
    TranscriptEntry,
    check_outcome,
    no_turn_lock,
)
from bot.store.migrations import open_database

log = logging.getLogger(__name__)
T = TypeVar("T")
STATE_CACHE = 4096  # conversations whose last state is kept parsed


def _json(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is; pydantic-core's encoder is ~3x the stdlib's on these small dicts."""
    return to_json(value, fallback=str).decode()


_MESSAGE_COLS = "id, chat_id, direction, kind, text, meta, at, delivered, error"


def _entry(row: tuple) -> TranscriptEntry:
    id_, chat, direction, kind, text, meta, at, delivered, error = row
    meta_d = json.loads(meta or "{}")
    if error:
        meta_d["error"] = error
    return TranscriptEntry(id_, chat, direction, kind, text, meta_d, at, None if delivered is None else bool(delivered))


def _analytics(conn: sqlite3.Connection, since: float | None) -> list[AnalyticsEvent]:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    out: list[AnalyticsEvent] = []
    if "events" in tables:  # schema 1, opened read-only (not migrated)
        rows = conn.execute("SELECT chat_id, name, data, at FROM events WHERE at >= ? ORDER BY id", (since or 0.0,))
        out += [AnalyticsEvent(chat_id, name, json.loads(data or "{}"), at) for chat_id, name, data, at in rows]
    if "turn_events" in tables:
        rows = conn.execute("SELECT chat_id, events, at FROM turn_events WHERE at >= ? ORDER BY id", (since or 0.0,))
        out += [AnalyticsEvent(chat_id, name, data, at)
                for chat_id, events, at in rows for name, data in json.loads(events)]
    return out


def _owner_record(c: sqlite3.Connection, order: str, buyer: str, since: float) -> OwnerRecord:
    locked = c.execute("SELECT 1 FROM owner_locks WHERE order_number=? AND buyer=?", (order, buyer)).fetchone()
    mine, total, buyers = c.execute(
        "SELECT coalesce(sum(buyer=?), 0), count(*), count(DISTINCT buyer) FROM owner_wrong WHERE order_number=?",
        (buyer, order)).fetchone()
    recent = c.execute("SELECT count(*) FROM owner_wrong WHERE buyer=? AND at>=?", (buyer, since)).fetchone()[0]
    return OwnerRecord(locked is not None, int(mine), int(total), int(buyers), int(recent))


def read_analytics(path: str | Path, since: float | None = None) -> list[AnalyticsEvent]:
    """A store's analytics events in the order they were recorded, opening the file read-only
    (reports run beside a live bot). Raises sqlite3.DatabaseError for a file that is not a store."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        return _analytics(conn, since)
    finally:
        conn.close()


class SqliteStore:
    def __init__(self, path: str | Path, *, checkpoint_every: float = 0.5) -> None:
        self.path = str(path)
        self._conn = open_database(self.path)
        # Checkpoints copy the WAL into the database and fsync: inside a commit they stall the event
        # loop (every chat) for milliseconds. A background thread runs them instead; the writer's own
        # automatic checkpoint stays as a bound (~40 MB of WAL) for when writes never pause long
        # enough for a background checkpoint to finish.
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._checkpointer = Checkpointer(self.path, checkpoint_every) if self.path != ":memory:" else None
        # The states this store wrote last, by chat: a turn reads back what the previous one saved,
        # and parsing it costs more than everything else in load_state. Each is checked against its
        # row's `rev` (random, new at every write), so a write by another connection is never missed.
        self._states: OrderedDict[str, tuple[int, ConversationState]] = OrderedDict()
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self._flush_scheduled = False
        self._wrote_this_pass = False

    # ---- group commit -------------------------------------------------------------------------
    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        if not self._pending and not self._wrote_this_pass:
            # The first write of an event-loop pass commits at once: alone (one chat at a time) it
            # would otherwise wait a pass for company that never comes (~25 us a turn). Writes
            # issued later in the same pass are grouped as below.
            self._wrote_this_pass = True
            loop.call_soon(self._new_pass)
            return self._transaction([op])[0]
        future: asyncio.Future = loop.create_future()
        self._pending.append((op, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _new_pass(self) -> None:
        self._wrote_this_pass = False

    def _flush(self) -> None:
        batch, self._pending, self._flush_scheduled = self._pending, [], False
        try:
            results = self._transaction([op for op, _ in batch])
        except Exception:  # one bad write must not fail the others: retry each on its own
            log.exception("group commit of %d writes failed; retrying one by one", len(batch))
            for op, future in batch:
                try:
                    result = self._transaction([op])[0]
                except Exception as exc:  # noqa: BLE001 - raised to the caller waiting on this write
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _transaction(self, ops: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            results = [op(c) for op in ops]
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return results

    # ---- the store contract -------------------------------------------------------------------
    turn = staticmethod(no_turn_lock)  # one process: the Telegram adapter orders each chat's updates

    async def load_state(self, chat_id: str) -> ConversationState | None:
        cached = self._states.get(chat_id)
        if cached is not None:
            row = self._conn.execute("SELECT rev FROM conversations WHERE chat_id=?", (chat_id,)).fetchone()
            if row is not None and row[0] == cached[0]:
                return cached[1].copy()
        row = self._conn.execute("SELECT state, rev FROM conversations WHERE chat_id=?", (chat_id,)).fetchone()
        if row is None:
            return None
        state = ConversationState.from_json(row[0])
        self._remember(chat_id, row[1], state.copy())
        return state

    def _remember(self, chat_id: str, rev: int | None, state: ConversationState) -> None:
        if rev is None:  # written before schema 2
            return
        self._states[chat_id] = (rev, state)
        self._states.move_to_end(chat_id)
        if len(self._states) > STATE_CACHE:
            self._states.popitem(last=False)

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None, *,
                           receipt: str | None = None, outcome: str | None = None) -> int:
        now = time.time()
        row = (chat_id, kind, text, _json(meta or {}), now)
        finish = (check_outcome(outcome), now, receipt) if receipt is not None and outcome is not None else None

        def op(c: sqlite3.Connection) -> int:
            if finish is not None:
                changed = c.execute("UPDATE inbox SET status=?, finished_at=? WHERE key=? AND status IN "
                                    "('new', 'turned')", finish).rowcount
                if not changed and c.execute("SELECT 1 FROM inbox WHERE key=?", (receipt,)).fetchone():
                    return 0  # already has its outcome: a replay records nothing twice
            return int(c.execute("INSERT INTO messages (chat_id, direction, kind, text, meta, at) "
                                 "VALUES (?, 'in', ?, ?, ?, ?)", row).lastrowid or 0)

        return await self._write(op)

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        row = (chat_id, kind, text, _json(meta or {}), time.time())
        return await self._write(lambda c: int(c.execute(
            "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'agent', ?, ?, ?, ?)", row,
        ).lastrowid or 0))

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]], *, receipt: str | None = None,
                        followups: list[dict[str, Any]] | None = None,
                        incoming: tuple[str, str] | None = None) -> list[int]:
        now = time.time()
        incoming_row = (chat_id, incoming[0], incoming[1], "{}", now) if incoming is not None else None
        followups_json = _json(followups) if followups else "[]"
        rev = getrandbits(62)
        state_row = (chat_id, state.to_json(), now, rev)
        message_rows = [(chat_id, o.kind, o.text, _json(o.meta), now) for o in outgoing]
        events_row = (chat_id, _json(events), now)

        def op(c: sqlite3.Connection) -> list[int]:
            if incoming_row is not None:
                c.execute("INSERT INTO messages (chat_id, direction, kind, text, meta, at) "
                          "VALUES (?, 'in', ?, ?, ?, ?)", incoming_row)
            c.execute(
                "INSERT INTO conversations (chat_id, state, updated_at, rev) VALUES (?, ?, ?, ?) ON CONFLICT(chat_id) "
                "DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at, rev=excluded.rev",
                state_row,
            )
            ids: list[int] = []
            if message_rows:
                c.executemany("INSERT INTO messages (chat_id, direction, kind, text, meta, at) "
                              "VALUES (?, 'out', ?, ?, ?, ?)", message_rows)
                last = int(c.execute("SELECT last_insert_rowid()").fetchone()[0])  # consecutive: we hold the lock
                ids = list(range(last - len(message_rows) + 1, last + 1))
            if events:
                c.execute("INSERT INTO turn_events (chat_id, events, at) VALUES (?, ?, ?)", events_row)
            if receipt is not None:
                c.execute("UPDATE inbox SET status='turned', replies=?, followups=? WHERE key=? AND status='new'",
                          (_json(ids), followups_json, receipt))
            return ids

        ids = await self._write(op)
        self._remember(chat_id, rev, state)  # handed over (see ConversationStore.save_turn)
        return ids

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        row = (int(delivered), error, message_id)
        await self._write(lambda c: c.execute("UPDATE messages SET delivered=?, error=? WHERE id=?", row))

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]:
        rows = self._conn.execute(
            f"SELECT {_MESSAGE_COLS} FROM messages WHERE chat_id=? ORDER BY id DESC LIMIT ?", (chat_id, limit),
        ).fetchall()
        return [_entry(row) for row in reversed(rows)]

    async def messages_by_id(self, ids: list[int]) -> list[TranscriptEntry]:
        found: dict[int, TranscriptEntry] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start:start + 500]]
            rows = self._conn.execute(
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            found.update((row[0], _entry(row)) for row in rows)
        return [found[i] for i in ids if i in found]

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int:
        row = (chat_id, name, _json(args), time.time())
        return await self._write(lambda c: int(c.execute(
            "INSERT INTO actions (chat_id, name, args, at) VALUES (?, ?, ?, ?)", row).lastrowid or 0))

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, chat_id, name, args, at FROM actions"
        rows = (self._conn.execute(sql + " WHERE chat_id=? ORDER BY id", (chat_id,)) if chat_id
                else self._conn.execute(sql + " ORDER BY id")).fetchall()
        return [{"id": r[0], "chat_id": r[1], "name": r[2], "args": json.loads(r[3]), "at": r[4]} for r in rows]

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]:
        return _analytics(self._conn, since)

    async def count_conversations(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    # ---- inbox ----------------------------------------------------------------------------------
    async def inbox_add(self, items: list[InboxItem]) -> list[str]:
        rows = [(i.key, i.chat_id, i.payload, i.at) for i in items]

        def op(c: sqlite3.Connection) -> list[str]:
            return [row[0] for row in rows if c.execute(
                "INSERT INTO inbox (key, chat_id, payload, at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                row).rowcount]

        return await self._write(op) if rows else []

    async def inbox_finish(self, key: str, outcome: str = "done") -> None:
        row = (check_outcome(outcome), time.time(), key)
        await self._write(lambda c: c.execute(
            "UPDATE inbox SET status=?, finished_at=? WHERE key=? AND status IN ('new', 'turned')", row))

    async def inbox_status(self, key: str) -> str | None:
        row = self._conn.execute("SELECT status FROM inbox WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    async def inbox_pending(self) -> list[PendingUpdate]:
        rows = self._conn.execute(
            "SELECT key, chat_id, payload, at, status, replies, followups FROM inbox "
            "WHERE status IN ('new', 'turned') ORDER BY id").fetchall()
        return [PendingUpdate(key, chat_id, payload, at, status, json.loads(replies or "[]"),
                              json.loads(followups or "[]"))
                for key, chat_id, payload, at, status, replies, followups in rows]

    # ---- ownership ------------------------------------------------------------------------------
    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        return _owner_record(self._conn, order, buyer, since)

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        def op(c: sqlite3.Connection) -> OwnerRecord:
            c.execute("INSERT INTO owner_wrong (order_number, buyer, at) VALUES (?, ?, ?)", (order, buyer, at))
            mine = c.execute("SELECT count(*) FROM owner_wrong WHERE order_number=? AND buyer=?",
                             (order, buyer)).fetchone()[0]
            if mine >= lock_after:
                c.execute("INSERT INTO owner_locks (order_number, buyer, at) VALUES (?, ?, ?) "
                          "ON CONFLICT(order_number, buyer) DO NOTHING", (order, buyer, at))
            return _owner_record(c, order, buyer, since)

        return await self._write(op)

    async def owner_reopen(self, order: str) -> int:
        def op(c: sqlite3.Connection) -> int:
            wrong = c.execute("DELETE FROM owner_wrong WHERE order_number=?", (order,)).rowcount
            return wrong + c.execute("DELETE FROM owner_locks WHERE order_number=?", (order,)).rowcount

        return await self._write(op)

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        def op(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO link_claims (link, buyer, at) VALUES (?, ?, ?) ON CONFLICT(link) DO NOTHING",
                      (link, buyer, at))
            return str(c.execute("SELECT buyer FROM link_claims WHERE link=?", (link,)).fetchone()[0])

        return await self._write(op)

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, now: float, retention: Retention, *, batch: int = PURGE_BATCH,
                    pause: float = PURGE_PAUSE) -> dict[str, int]:
        days = {"messages": retention.transcript_days, "turn_events": retention.analytics_days,
                "actions": retention.actions_days, "inbox": retention.inbox_days}
        counts = dict.fromkeys(PURGED_TABLES, 0)
        for table in PURGED_TABLES:
            if days[table] > 0:
                counts[table] = await self._purge_table(table, now - days[table] * 86400, batch, pause)
        return counts

    async def _purge_table(self, table: str, cutoff: float, batch: int, pause: float) -> int:
        """Walk the table in id order, `batch` rows per transaction, deleting those older than
        `cutoff`; stop at the first batch that ends with a row young enough to keep (rows are
        written in time order). Between batches the event loop runs (`pause` seconds)."""
        keep = f" AND status NOT IN ('{INBOX_NEW}', '{INBOX_TURNED}')" if table == "inbox" else ""
        select = f"SELECT id, at FROM {table} WHERE id > ? ORDER BY id LIMIT ?"
        delete = f"DELETE FROM {table} WHERE id > ? AND id <= ? AND at < ?{keep}"

        def chunk(after: int) -> Callable[[sqlite3.Connection], tuple[int, int, bool]]:
            def op(c: sqlite3.Connection) -> tuple[int, int, bool]:
                rows = c.execute(select, (after, batch)).fetchall()
                if not rows:
                    return 0, after, True
                last_id, last_at = rows[-1]
                deleted = c.execute(delete, (after, last_id, cutoff)).rowcount
                return deleted, last_id, len(rows) < batch or last_at is None or last_at >= cutoff
            return op

        total, after, done = 0, 0, False
        while not done:
            deleted, after, done = await self._write(chunk(after))
            total += deleted
            await asyncio.sleep(0 if done else pause)
        return total

    async def close(self) -> None:
        if self._pending:  # never drop acknowledged-to-be writes on shutdown
            self._flush()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._conn.close()


class Checkpointer:
    """Checkpoints a WAL database from a thread of its own, on its own connection.

    PASSIVE checkpoints never block the writer; once one has copied the whole WAL, the next write
    starts the WAL from its beginning again, so the file stays small. sqlite3 releases the GIL
    while SQLite works, so the event loop keeps running. The last checkpoint, at stop, truncates.
    """

    def __init__(self, path: str, every_s: float = 0.5) -> None:
        self.path = path
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stop.wait(self.every_s):
                self._checkpoint(conn, "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:  # busy or closing: the next round catches up
            log.debug("checkpoint (%s) skipped", mode, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
