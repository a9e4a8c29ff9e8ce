"""SQLite store (WAL). All of its SQL lives in this module, so another backend is one file.

sqlite-utils creates and migrates the schema; the hot path uses parameterised sqlite3 directly
(sqlite-utils costs about 5x per single-row write).

Writes use group commit: writes issued in the same event-loop iteration (many chats at once) go
into one transaction. Every write method returns only after its transaction committed, so a
killed process loses nothing that was acknowledged, and a reply is sent only after its turn is
durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlite_utils
from pydantic_core import to_json

from bot.engine.state import ConversationState
from bot.store.base import AnalyticsEvent, Outgoing, TranscriptEntry

SCHEMA_VERSION = 1


def create_schema(db: sqlite_utils.Database) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    if "conversations" not in db.table_names():
        db["conversations"].create({"chat_id": str, "state": str, "updated_at": float}, pk="chat_id")
    if "messages" not in db.table_names():
        db["messages"].create(
            {"id": int, "chat_id": str, "direction": str, "kind": str, "text": str, "meta": str, "at": float,
             "delivered": int, "error": str},
            pk="id",
        )
        db["messages"].create_index(["chat_id", "id"])
    if "events" not in db.table_names():
        # No index on events: every turn writes several, and only offline reports read them.
        db["events"].create({"id": int, "chat_id": str, "name": str, "data": str, "at": float}, pk="id")
    if "actions" not in db.table_names():
        db["actions"].create({"id": int, "chat_id": str, "name": str, "args": str, "at": float}, pk="id")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


log = logging.getLogger(__name__)
T = TypeVar("T")
def _json(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is; pydantic-core's encoder is ~3x the stdlib's on these small dicts."""
    return to_json(value, fallback=str).decode()


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        create_schema(sqlite_utils.Database(self._conn))
        # WAL + NORMAL: a commit survives a killed process (only power loss can drop the newest ones).
        # Checkpoints (which fsync) every ~40 MB of WAL instead of 4 MB: they dominate the write cost.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self._flush_scheduled = False

    # ---- group commit -------------------------------------------------------------------------
    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((op, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending, self._flush_scheduled = self._pending, [], False
        try:
            results = self._transaction([op for op, _ in batch])
        except Exception:  # one bad write must not fail the others: retry each on its own
            log.exception("group commit of %d writes failed; retrying one by one", len(batch))
            for op, future in batch:
                try:
                    result = self._transaction([op])[0]
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        for (_, future), result in zip(batch, results):
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
    async def load_state(self, chat_id: str) -> ConversationState | None:
        row = self._conn.execute("SELECT state FROM conversations WHERE chat_id=?", (chat_id,)).fetchone()
        return ConversationState.from_json(row[0]) if row else None

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        row = (chat_id, kind, text, _json(meta or {}), time.time())
        return await self._write(lambda c: int(c.execute(
            "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'in', ?, ?, ?, ?)", row,
        ).lastrowid or 0))

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        row = (chat_id, kind, text, _json(meta or {}), time.time())
        return await self._write(lambda c: int(c.execute(
            "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'agent', ?, ?, ?, ?)", row,
        ).lastrowid or 0))

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        now = time.time()
        state_row = (chat_id, state.to_json(), now)
        message_rows = [(chat_id, o.kind, o.text, _json(o.meta), now) for o in outgoing]
        event_rows = [(chat_id, name, _json(data), now) for name, data in events]

        def op(c: sqlite3.Connection) -> list[int]:
            c.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at",
                state_row,
            )
            ids: list[int] = []
            if message_rows:
                c.executemany("INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'out', ?, ?, ?, ?)",
                              message_rows)
                last = int(c.execute("SELECT last_insert_rowid()").fetchone()[0])  # consecutive: we hold the lock
                ids = list(range(last - len(message_rows) + 1, last + 1))
            if event_rows:
                c.executemany("INSERT INTO events (chat_id, name, data, at) VALUES (?, ?, ?, ?)", event_rows)
            return ids

        return await self._write(op)

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        row = (int(delivered), error, message_id)
        await self._write(lambda c: c.execute("UPDATE messages SET delivered=?, error=? WHERE id=?", row))

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]:
        rows = self._conn.execute(
            "SELECT id, chat_id, direction, kind, text, meta, at, delivered, error FROM messages "
            "WHERE chat_id=? ORDER BY id DESC LIMIT ?", (chat_id, limit),
        ).fetchall()
        out = []
        for id_, chat, direction, kind, text, meta, at, delivered, error in reversed(rows):
            meta_d = json.loads(meta or "{}")
            if error:
                meta_d["error"] = error
            out.append(TranscriptEntry(id_, chat, direction, kind, text, meta_d, at,
                                       None if delivered is None else bool(delivered)))
        return out

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
        rows = self._conn.execute("SELECT chat_id, name, data, at FROM events WHERE at >= ? ORDER BY id",
                                  (since or 0.0,)).fetchall()
        return [AnalyticsEvent(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    async def count_conversations(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    async def close(self) -> None:
        if self._pending:  # never drop acknowledged-to-be writes on shutdown
            self._flush()
        self._conn.close()
