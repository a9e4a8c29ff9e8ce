"""`NotifyRecords` in SQLite: tables `notify_watches` and `notify_outbox` in the conversation
database (bot/store/migrations.py), on a connection of their own, parameterised sqlite3 on the
hot path, every write committed before the method returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.notify.records import ERROR_LIMIT, FAILED, PENDING, SENDING, SENT, Outbound, Watch
from bot.store.migrations import open_database

_WATCH_COLS = "chat_id, posting_number, order_number, lang, since, last_rank, last_at"
_OUT_COLS = ("id, key, chat_id, thread_id, payload, status, attempts, next_at, error, message_id, created_at")


def _out(row: tuple) -> Outbound:
    r = list(row)
    r[4] = json.loads(r[4])
    return Outbound(*r)


class SqliteNotifyRecords:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._c = open_database(self.path)

    async def close(self) -> None:
        self._c.close()

    # ---- watches ---------------------------------------------------------------------------------
    async def watch(self, chat_id: str, posting_number: str, order_number: str, lang: str, now: float) -> bool:
        cur = self._c.execute(
            "INSERT INTO notify_watches (chat_id, posting_number, order_number, lang, since) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (chat_id, posting_number) DO NOTHING", (chat_id, posting_number, order_number, lang, now))
        return cur.rowcount == 1

    async def unwatch(self, chat_id: str, posting_number: str | None = None) -> int:
        if posting_number is None:
            return self._c.execute("DELETE FROM notify_watches WHERE chat_id=?", (chat_id,)).rowcount
        return self._c.execute("DELETE FROM notify_watches WHERE chat_id=? AND posting_number=?",
                               (chat_id, posting_number)).rowcount

    async def watches(self, chat_id: str) -> list[Watch]:
        rows = self._c.execute(f"SELECT {_WATCH_COLS} FROM notify_watches WHERE chat_id=? ORDER BY since, rowid",
                               (chat_id,)).fetchall()
        return [Watch(*r) for r in rows]

    async def watchers(self, posting_number: str) -> list[Watch]:
        rows = self._c.execute(f"SELECT {_WATCH_COLS} FROM notify_watches WHERE posting_number=? "
                               "ORDER BY since, rowid", (posting_number,)).fetchall()
        return [Watch(*r) for r in rows]

    async def advance(self, chat_id: str, posting_number: str, rank: int, at: float) -> bool:
        # One statement: the comparison and the update cannot be split by another writer.
        cur = self._c.execute(
            "UPDATE notify_watches SET last_rank=?, last_at=max(last_at, ?) WHERE chat_id=? AND posting_number=? "
            "AND (last_rank < ? OR (last_rank = ? AND last_at <= ?))",
            (rank, at, chat_id, posting_number, rank, rank, at))
        return cur.rowcount == 1

    # ---- the outbox ------------------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: int, payload: dict[str, Any], now: float, *,
                      thread_id: int | None = None) -> int | None:
        cur = self._c.execute(
            "INSERT INTO notify_outbox (key, chat_id, thread_id, payload, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, chat_id, thread_id, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), now, now))
        return cur.lastrowid if cur.rowcount == 1 else None

    async def due(self, now: float, limit: int = 100) -> list[Outbound]:
        rows = self._c.execute(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE status=? AND next_at<=? "
                               "ORDER BY next_at, id LIMIT ?", (PENDING, now, limit)).fetchall()
        return [_out(r) for r in rows]

    async def claim(self, outbound_id: int) -> bool:
        cur = self._c.execute("UPDATE notify_outbox SET status=?, attempts=attempts+1 WHERE id=? AND status=?",
                              (SENDING, outbound_id, PENDING))
        return cur.rowcount == 1

    async def mark_sent(self, outbound_id: int, message_id: int | None, now: float) -> None:
        self._c.execute("UPDATE notify_outbox SET status=?, message_id=?, sent_at=?, error='' WHERE id=?",
                        (SENT, message_id, now, outbound_id))

    async def mark_retry(self, outbound_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        back = 0 if count_attempt else 1
        self._c.execute("UPDATE notify_outbox SET status=?, error=?, next_at=?, attempts=max(0, attempts-?) "
                        "WHERE id=? AND status=?", (PENDING, error[:ERROR_LIMIT], next_at, back, outbound_id, SENDING))

    async def postpone(self, outbound_id: int, next_at: float) -> None:
        self._c.execute("UPDATE notify_outbox SET next_at=? WHERE id=? AND status=?", (next_at, outbound_id, PENDING))

    async def mark_failed(self, outbound_id: int, error: str) -> None:
        self._c.execute("UPDATE notify_outbox SET status=?, error=? WHERE id=?",
                        (FAILED, error[:ERROR_LIMIT], outbound_id))

    async def fail_pending(self, chat_id: int, error: str) -> int:
        return self._c.execute("UPDATE notify_outbox SET status=?, error=? WHERE chat_id=? AND status=?",
                               (FAILED, error[:ERROR_LIMIT], chat_id, PENDING)).rowcount

    async def recover(self) -> int:
        return self._c.execute("UPDATE notify_outbox SET status=? WHERE status=?", (PENDING, SENDING)).rowcount

    async def release_expired(self) -> int:
        return 0  # one process: only a restart interrupts a send (recover)

    async def outbound(self, key: str) -> Outbound | None:
        row = self._c.execute(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE key=?", (key,)).fetchone()
        return _out(row) if row else None

    async def outbox(self, chat_id: int | None = None) -> list[Outbound]:
        if chat_id is None:
            rows = self._c.execute(f"SELECT {_OUT_COLS} FROM notify_outbox ORDER BY id").fetchall()
        else:
            rows = self._c.execute(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE chat_id=? ORDER BY id",
                                   (chat_id,)).fetchall()
        return [_out(r) for r in rows]

    async def last_sent(self, since: float, now: float) -> dict[int, float]:
        rows = self._c.execute("SELECT chat_id, max(CASE WHEN status=? THEN ? ELSE sent_at END) FROM notify_outbox "
                               "WHERE (status=? AND sent_at>=?) OR status=? GROUP BY chat_id",
                               (SENDING, now, SENT, since, SENDING))
        return {int(chat): float(at) for chat, at in rows}

    async def counts(self) -> dict[str, int]:
        out = dict.fromkeys((PENDING, SENDING, SENT, FAILED), 0)
        for status, n in self._c.execute("SELECT status, count(*) FROM notify_outbox GROUP BY status"):
            out[status] = n
        return out

    async def purge(self, before: float) -> int:
        return self._c.execute("DELETE FROM notify_outbox WHERE status IN (?, ?) AND created_at < ?",
                               (SENT, FAILED, before)).rowcount
