"""SQLite store (WAL). All of its SQL lives in this module, so another backend is one file.

sqlite-utils creates and migrates the schema; the hot path uses parameterised sqlite3 directly
(sqlite-utils costs about 5x per single-row write). Every method commits before it returns, so a
killed process loses nothing that was acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlite_utils

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


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


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

    async def load_state(self, chat_id: str) -> ConversationState | None:
        row = self._conn.execute("SELECT state FROM conversations WHERE chat_id=?", (chat_id,)).fetchone()
        return ConversationState.from_json(row[0]) if row else None

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'in', ?, ?, ?, ?)",
            (chat_id, kind, text, _json(meta or {}), time.time()),
        )
        return int(cur.lastrowid or 0)

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        now = time.time()
        c = self._conn
        ids: list[int] = []
        c.execute("BEGIN")  # the first statement writes, so the busy timeout applies to taking the lock
        try:
            c.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at",
                (chat_id, state.to_json(), now),
            )
            if outgoing:
                c.executemany(
                    "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES (?, 'out', ?, ?, ?, ?)",
                    [(chat_id, o.kind, o.text, _json(o.meta), now) for o in outgoing],
                )
                # rowids are consecutive: this transaction holds the write lock
                last = int(c.execute("SELECT last_insert_rowid()").fetchone()[0])
                ids = list(range(last - len(outgoing) + 1, last + 1))
            if events:
                c.executemany("INSERT INTO events (chat_id, name, data, at) VALUES (?, ?, ?, ?)",
                              [(chat_id, name, _json(data), now) for name, data in events])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return ids

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        self._conn.execute("UPDATE messages SET delivered=?, error=? WHERE id=?", (int(delivered), error, message_id))

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
        cur = self._conn.execute("INSERT INTO actions (chat_id, name, args, at) VALUES (?, ?, ?, ?)",
                                 (chat_id, name, _json(args), time.time()))
        return int(cur.lastrowid or 0)

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
        self._conn.close()
