"""Handoff records in SQLite (`SqliteHandoffRecords`): all of the handoff's SQL lives here.

The tables sit in the conversation store's database file (`settings.store_path`) next to the
store's own tables, on a connection of their own (WAL), created by bot/store/migrations.py; the hot
path is parameterised sqlite3. Every write commits before the method returns (autocommit, or one
explicit transaction when a method writes several rows), so a killed process loses nothing that
was acknowledged.

The calls run inline on the event loop: each is one indexed statement (a few tens of
microseconds), cheaper than a hop to a thread. Only a write lock held by another process makes
one wait, up to `busy_timeout`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.handoff.records import (
    ERROR_LIMIT,
    FAILED,
    OPEN,
    PENDING,
    SENDING,
    SENT,
    Relay,
    Session,
    Topic,
)
from bot.store.migrations import open_database


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


_TOPIC_COLS = "chat_id, thread_id, name, buyer_name, username, lang, order_number"
_SESSION_COLS = ("id, chat_id, flow_id, node_id, reason, status, started_at, first_reply_at, closed_at, "
                 "coalesce(closed_by, ''), rating, announced_at")
_RELAY_COLS = ("id, key, chat_id, session_id, direction, op, src_chat, src_message_id, payload, status, attempts, "
               "next_at, coalesce(error, ''), dest_chat, dest_message_id, created_at")
# Sessions still open: what purge never touches.
_OPEN_IDS = "SELECT id FROM handoff_sessions WHERE status=?"


def _session(row: tuple) -> Session:
    return Session(*row)


def _relay(row: tuple) -> Relay:
    r = list(row)
    r[8] = json.loads(r[8] or "{}")
    return Relay(*r)


class SqliteHandoffRecords:
    """`HandoffRecords` over a SQLite file (or ":memory:")."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._c = open_database(self.path)

    async def close(self) -> None:
        self._c.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Several writes, one commit (autocommit mode otherwise commits each statement)."""
        c = self._c
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _one(self, sql: str, args: tuple | list = ()) -> tuple | None:
        return self._c.execute(sql, args).fetchone()

    def _changed(self, sql: str, args: tuple | list = ()) -> int:
        return self._c.execute(sql, args).rowcount

    # ---- topics ---------------------------------------------------------------------------------
    async def topic(self, chat_id: str) -> Topic | None:
        row = self._one(f"SELECT {_TOPIC_COLS} FROM handoff_topics WHERE chat_id=?", (chat_id,))
        return Topic(*row) if row else None

    async def topic_by_thread(self, thread_id: int) -> Topic | None:
        row = self._one(f"SELECT {_TOPIC_COLS} FROM handoff_topics WHERE thread_id=?", (thread_id,))
        return Topic(*row) if row else None

    async def save_topic(self, topic: Topic, now: float, *, created: bool) -> None:
        with self._transaction() as c:
            # A recreated topic gets a new thread id; drop a stale row that still claims it.
            c.execute("DELETE FROM handoff_topics WHERE thread_id=? AND chat_id<>?", (topic.thread_id, topic.chat_id))
            c.execute(
                "INSERT INTO handoff_topics (chat_id, thread_id, name, buyer_name, username, lang, order_number, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chat_id) DO UPDATE SET "
                "thread_id=excluded.thread_id, name=excluded.name, buyer_name=excluded.buyer_name, "
                "username=excluded.username, lang=excluded.lang, order_number=excluded.order_number, "
                "updated_at=excluded.updated_at",
                (topic.chat_id, topic.thread_id, topic.name, topic.buyer_name, topic.username, topic.lang,
                 topic.order_number, now, now))
            if created:
                c.execute("INSERT INTO handoff_topic_log (chat_id, thread_id, at) VALUES (?, ?, ?)",
                          (topic.chat_id, topic.thread_id, now))

    async def topics_created_since(self, since: float, chat_id: str | None = None) -> int:
        if chat_id is None:
            row = self._one("SELECT count(*) FROM handoff_topic_log WHERE at>=?", (since,))
        else:
            row = self._one("SELECT count(*) FROM handoff_topic_log WHERE at>=? AND chat_id=?", (since, chat_id))
        return int(row[0]) if row else 0

    # ---- sessions -------------------------------------------------------------------------------
    async def open_session(self, chat_id: str) -> Session | None:
        row = self._one(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE chat_id=? AND status=? "
                        "ORDER BY id DESC LIMIT 1", (chat_id, OPEN))
        return _session(row) if row else None

    async def last_session(self, chat_id: str) -> Session | None:
        row = self._one(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE chat_id=? ORDER BY id DESC LIMIT 1",
                        (chat_id,))
        return _session(row) if row else None

    async def session(self, session_id: int) -> Session | None:
        row = self._one(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE id=?", (session_id,))
        return _session(row) if row else None

    async def session_count(self, chat_id: str) -> int:
        row = self._one("SELECT count(*) FROM handoff_sessions WHERE chat_id=?", (chat_id,))
        return int(row[0]) if row else 0

    async def sessions(self, since: float = 0.0) -> list[Session]:
        rows = self._c.execute(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE started_at>=? ORDER BY id",
                               (since,)).fetchall()
        return [_session(r) for r in rows]

    async def add_session(self, chat_id: str, flow_id: str, node_id: str, reason: str, now: float) -> int:
        cur = self._c.execute(
            "INSERT INTO handoff_sessions (chat_id, flow_id, node_id, reason, status, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (chat_id, flow_id, node_id, reason, OPEN, now))
        return int(cur.lastrowid or 0)

    async def queue_position(self, session_id: int) -> int:
        row = self._one("SELECT count(*) FROM handoff_sessions WHERE status=? AND first_reply_at IS NULL AND id<?",
                        (OPEN, session_id))
        return (int(row[0]) if row else 0) + 1

    async def unanswered(self) -> list[Session]:
        rows = self._c.execute(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE status=? AND "
                               "first_reply_at IS NULL ORDER BY id", (OPEN,)).fetchall()
        return [_session(r) for r in rows]

    async def mark_first_reply(self, session_id: int, now: float) -> bool:
        return self._changed("UPDATE handoff_sessions SET first_reply_at=? WHERE id=? AND first_reply_at IS NULL",
                             (now, session_id)) > 0

    async def mark_announced(self, session_id: int, now: float) -> None:
        self._c.execute("UPDATE handoff_sessions SET announced_at=? WHERE id=?", (now, session_id))

    async def end_session(self, session_id: int, status: str, now: float, by: str = "") -> bool:
        return self._changed("UPDATE handoff_sessions SET status=?, closed_at=?, closed_by=? WHERE id=? AND status=?",
                             (status, now, by, session_id, OPEN)) > 0

    async def rate(self, session_id: int, chat_id: str, rating: int) -> bool:
        return self._changed("UPDATE handoff_sessions SET rating=? WHERE id=? AND chat_id=? AND status<>? "
                             "AND rating IS NULL", (rating, session_id, chat_id, OPEN)) > 0

    # ---- relays (the outbox) --------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: str, direction: str, op: str, payload: dict[str, Any], now: float, *,
                      session_id: int | None = None, src_chat: int | None = None,
                      src_message_id: int | None = None) -> int | None:
        cur = self._c.execute(
            "INSERT OR IGNORE INTO handoff_relays (key, chat_id, session_id, direction, op, src_chat, src_message_id, "
            "payload, status, attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (key, chat_id, session_id, direction, op, src_chat, src_message_id, _json(payload), PENDING, now, now))
        return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None

    async def due(self, now: float | None, chat_id: str | None = None) -> list[Relay]:
        sql = f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE status=?"
        args: list[Any] = [PENDING]
        if now is not None:
            sql += " AND next_at<=?"
            args.append(now)
        if chat_id is not None:
            sql += " AND chat_id=?"
            args.append(chat_id)
        return [_relay(r) for r in self._c.execute(sql + " ORDER BY id", args).fetchall()]

    async def earlier_unsent(self, relay: Relay) -> bool:
        row = self._one("SELECT 1 FROM handoff_relays WHERE chat_id=? AND direction=? AND id<? AND status IN (?, ?) "
                        "LIMIT 1", (relay.chat_id, relay.direction, relay.id, PENDING, SENDING))
        return row is not None

    async def claim(self, relay_id: int) -> bool:
        return self._changed("UPDATE handoff_relays SET status=?, attempts=attempts+1 WHERE id=? AND status=?",
                             (SENDING, relay_id, PENDING)) > 0

    async def mark_sent(self, relay_id: int, dest_chat: int, dest_message_id: int | None, now: float) -> None:
        self._c.execute("UPDATE handoff_relays SET status=?, dest_chat=?, dest_message_id=?, sent_at=?, error='' "
                        "WHERE id=?", (SENT, dest_chat, dest_message_id, now, relay_id))

    async def mark_retry(self, relay_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        given_back = 0 if count_attempt else 1
        self._c.execute("UPDATE handoff_relays SET status=?, error=?, next_at=?, attempts=max(0, attempts-?) "
                        "WHERE id=?", (PENDING, error[:ERROR_LIMIT], next_at, given_back, relay_id))

    async def mark_failed(self, relay_id: int, error: str) -> None:
        self._c.execute("UPDATE handoff_relays SET status=?, error=? WHERE id=?",
                        (FAILED, error[:ERROR_LIMIT], relay_id))

    async def recover(self) -> int:
        return self._changed("UPDATE handoff_relays SET status=? WHERE status=?", (PENDING, SENDING))

    async def release_expired(self) -> int:
        return 0  # one process: a send is interrupted only by a restart (recover)

    async def relay(self, key: str) -> Relay | None:
        row = self._one(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE key=?", (key,))
        return _relay(row) if row else None

    async def relay_by_copy(self, dest_chat: int, dest_message_id: int) -> Relay | None:
        row = self._one(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE dest_chat=? AND dest_message_id=? "
                        "ORDER BY id LIMIT 1", (dest_chat, dest_message_id))
        return _relay(row) if row else None

    async def relays(self, chat_id: str | None = None) -> list[Relay]:
        if chat_id is None:
            rows = self._c.execute(f"SELECT {_RELAY_COLS} FROM handoff_relays ORDER BY id").fetchall()
        else:
            rows = self._c.execute(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE chat_id=? ORDER BY id",
                                   (chat_id,)).fetchall()
        return [_relay(r) for r in rows]

    # ---- notes, blocks, notices -----------------------------------------------------------------
    async def add_note(self, chat_id: str, session_id: int | None, author_id: int, author: str, text: str,
                       now: float) -> int:
        cur = self._c.execute("INSERT INTO handoff_notes (chat_id, session_id, author_id, author, text, at) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (chat_id, session_id, author_id, author, text, now))
        return int(cur.lastrowid or 0)

    async def notes(self, chat_id: str) -> list[dict[str, Any]]:
        rows = self._c.execute("SELECT id, author, text, at FROM handoff_notes WHERE chat_id=? ORDER BY id",
                               (chat_id,)).fetchall()
        return [{"id": r[0], "author": r[1], "text": r[2], "at": r[3]} for r in rows]

    async def block(self, chat_id: str, by: str, now: float) -> None:
        self._c.execute("INSERT OR REPLACE INTO handoff_blocked (chat_id, by, at) VALUES (?, ?, ?)", (chat_id, by, now))

    async def unblock(self, chat_id: str) -> bool:
        return self._changed("DELETE FROM handoff_blocked WHERE chat_id=?", (chat_id,)) > 0

    async def is_blocked(self, chat_id: str) -> bool:
        return self._one("SELECT 1 FROM handoff_blocked WHERE chat_id=?", (chat_id,)) is not None

    async def add_notice(self, chat_id: str, action: str, args: dict[str, Any], now: float) -> int:
        cur = self._c.execute("INSERT INTO handoff_notices (chat_id, action, args, at) VALUES (?, ?, ?, ?)",
                              (chat_id, action, _json(args), now))
        return int(cur.lastrowid or 0)

    _NOTICE = ("SELECT id, chat_id, action, args, message_id, seen_by, seen_at, outcome, outcome_reason, outcome_by, "
               "outcome_at, at FROM handoff_notices")

    @staticmethod
    def _notice_row(row: Any) -> dict[str, Any]:
        return {"id": row[0], "chat_id": row[1], "action": row[2], "args": json.loads(row[3] or "{}"),
                "message_id": row[4], "seen_by": row[5], "seen_at": row[6], "outcome": row[7],
                "outcome_reason": row[8], "outcome_by": row[9], "outcome_at": row[10]}

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        row = self._one(self._NOTICE + " WHERE id=?", (notice_id,))
        return self._notice_row(row) if row else None

    async def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = self._c.execute(self._NOTICE + " WHERE at>=? ORDER BY id", (since,)).fetchall()
        return [{**self._notice_row(r), "at": r[11]} for r in rows]

    async def set_outcome(self, notice_id: int, outcome: str, reason: str, by: str, now: float) -> bool:
        return self._changed("UPDATE handoff_notices SET outcome=?, outcome_reason=?, outcome_by=?, outcome_at=? "
                             "WHERE id=? AND outcome IS NULL", (outcome, reason, by, now, notice_id)) > 0

    async def mark_seen(self, notice_id: int, by: str, now: float) -> bool:
        return self._changed("UPDATE handoff_notices SET seen_by=?, seen_at=? WHERE id=? AND seen_at IS NULL",
                             (by, now, notice_id)) > 0

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, before: float) -> dict[str, int]:
        # The newest row of each table stays: SQLite would hand its rowid out again (no AUTOINCREMENT),
        # and ids end up in relay keys ("notice:<id>", "fail:<id>") that must never repeat.
        with self._transaction() as c:
            relays = c.execute(
                "DELETE FROM handoff_relays WHERE status IN (?, ?) AND created_at<? "
                f"AND (session_id IS NULL OR session_id NOT IN ({_OPEN_IDS})) "
                "AND id<(SELECT max(id) FROM handoff_relays)", (SENT, FAILED, before, OPEN)).rowcount
            notes = c.execute(
                f"DELETE FROM handoff_notes WHERE at<? AND (session_id IS NULL OR session_id NOT IN ({_OPEN_IDS})) "
                "AND id<(SELECT max(id) FROM handoff_notes)", (before, OPEN)).rowcount
            notices = c.execute("DELETE FROM handoff_notices WHERE at<? AND id<(SELECT max(id) FROM handoff_notices)",
                                (before,)).rowcount
            topic_log = c.execute("DELETE FROM handoff_topic_log WHERE at<?", (before,)).rowcount
        return {"relays": relays, "notes": notes, "notices": notices, "topic_log": topic_log}
