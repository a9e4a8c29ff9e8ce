"""The order mirror's storage in the conversation database (SQLite, WAL; tables of migration 7).

Implements `bot.orders.mirror.store.MirrorStore`; `tests/test_mirror_store_contract.py` runs the
same suite against it and the in-memory one. Plain parameterised sqlite3 on one connection: each
method is one short transaction (a push is durable when `put_push` returns).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.mirror.store import FINAL, PACKING, PURGE_BATCH, MirrorRow, PendingChange, PushRecord
from bot.orders.model import Order
from bot.store.migrations import open_database

_ROW = "data, fetched_at, state_at"
_PACKING = tuple(sorted(PACKING))
_FINAL = tuple(sorted(FINAL))
# The postings retention may delete (see MirrorStore.purge_postings); migration 9's indexes serve it.
_PURGE = (f"DELETE FROM mirror_postings WHERE posting_number IN (SELECT p.posting_number FROM mirror_postings p "
          f"WHERE p.status IN ({','.join('?' * len(_FINAL))}) AND p.state_at < ? AND NOT EXISTS (SELECT 1 "
          "FROM mirror_changes c WHERE c.posting_number = p.posting_number AND (c.delivered = 0 OR c.at >= ?)) "
          "LIMIT ?) RETURNING posting_number")


def _row(data: str, fetched_at: float, state_at: float) -> MirrorRow:
    return MirrorRow(Order.model_validate_json(data), fetched_at, state_at)


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment else None


class SqliteMirrorStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = open_database(self.path)

    def _tx(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    async def get(self, posting_numbers: Sequence[str]) -> dict[str, MirrorRow]:
        out: dict[str, MirrorRow] = {}
        numbers = list(dict.fromkeys(posting_numbers))
        for i in range(0, len(numbers), 500):
            chunk = numbers[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for number, *rest in self._conn.execute(
                    f"SELECT posting_number, {_ROW} FROM mirror_postings WHERE posting_number IN ({marks})", chunk):
                out[number] = _row(*rest)
        return out

    async def by_order(self, order_number: str) -> list[MirrorRow]:
        rows = self._conn.execute(f"SELECT {_ROW} FROM mirror_postings WHERE order_number=? ORDER BY posting_number",
                                  (order_number,))
        return [_row(*r) for r in rows]

    async def commit(self, rows: Sequence[MirrorRow], changes: Sequence[PostingChange]) -> list[PostingChange]:
        added: list[PostingChange] = []
        c = self._tx()
        try:
            c.executemany(
                "INSERT OR REPLACE INTO mirror_postings (posting_number, order_number, status, shipment_at, "
                "delivery_end_at, created_at, products, data, fetched_at, state_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.order.posting_number, r.order.order_number, r.order.status, _ts(r.order.shipment_date),
                  _ts(r.order.delivery_date_end), r.order.created_at.timestamp(),
                  "\n".join(p.name for p in r.order.products), r.order.model_dump_json(), r.fetched_at, r.state_at)
                 for r in rows])
            for ch in changes:
                cur = c.execute(
                    "INSERT OR IGNORE INTO mirror_changes (key, posting_number, kind, detail, at, source, data) "
                    "VALUES (?,?,?,?,?,?,?)", (ch.key, ch.posting_number, ch.kind.value, ch.detail, ch.at.timestamp(),
                                               ch.source, ch.order.model_dump_json()))
                if cur.rowcount:
                    added.append(ch)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return added

    async def pending_changes(self, limit: int = 500) -> list[PendingChange]:
        rows = self._conn.execute("SELECT id, posting_number, kind, detail, at, source, data FROM mirror_changes "
                                  "WHERE delivered = 0 ORDER BY id LIMIT ?", (limit,))
        return [PendingChange(id_, PostingChange(number, ChangeKind(kind), detail, datetime.fromtimestamp(at, UTC),
                                                 Order.model_validate_json(data), source))
                for id_, number, kind, detail, at, source, data in rows]

    async def changes_delivered(self, ids: Sequence[int]) -> None:
        c = self._tx()
        c.executemany("UPDATE mirror_changes SET delivered = 1 WHERE id = ?", [(i,) for i in ids])
        c.execute("COMMIT")

    async def overdue(self, now: datetime) -> list[MirrorRow]:
        marks = ",".join("?" * len(_PACKING))
        ts = now.timestamp()
        rows = self._conn.execute(
            f"SELECT {_ROW} FROM mirror_postings WHERE (status IN ({marks}) AND shipment_at < ?) "
            "OR (status = 'delivering' AND delivery_end_at < ?) ORDER BY posting_number", (*_PACKING, ts, ts))
        return [_row(*r) for r in rows]

    async def product_names(self, since: datetime) -> list[str]:
        rows = self._conn.execute("SELECT products FROM mirror_postings WHERE created_at >= ?", (since.timestamp(),))
        return sorted({name for (products,) in rows for name in products.split("\n") if name})

    async def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM mirror_postings").fetchone()[0])

    async def get_mark(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM mirror_marks WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    async def set_mark(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO mirror_marks (name, value) VALUES (?, ?)", (name, value))

    async def put_push(self, key: str, message_type: str, payload: str, at: float) -> int | None:
        cur = self._conn.execute("INSERT OR IGNORE INTO mirror_pushes (key, message_type, payload, received_at) "
                                 "VALUES (?,?,?,?)", (key, message_type, payload, at))
        return cur.lastrowid if cur.rowcount else None

    async def pending_pushes(self, limit: int = 500) -> list[PushRecord]:
        rows = self._conn.execute("SELECT id, key, message_type, payload, received_at, attempts FROM mirror_pushes "
                                  "WHERE done_at IS NULL ORDER BY id LIMIT ?", (limit,))
        return [PushRecord(*r) for r in rows]

    async def pushes_done(self, ids: Sequence[int], at: float) -> None:
        c = self._tx()
        c.executemany("UPDATE mirror_pushes SET done_at = ? WHERE id = ?", [(at, i) for i in ids])
        c.execute("COMMIT")

    async def push_retry(self, ids: Sequence[int]) -> None:
        c = self._tx()
        c.executemany("UPDATE mirror_pushes SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids])
        c.execute("COMMIT")

    async def purge_pushes(self, before: float) -> int:
        return self._conn.execute("DELETE FROM mirror_pushes WHERE done_at IS NOT NULL AND done_at < ?",
                                  (before,)).rowcount

    async def purge_postings(self, before: float, batch: int = PURGE_BATCH) -> dict[str, int]:
        counts = {"mirror_postings": 0, "mirror_changes": 0}
        while True:
            c = self._tx()
            try:
                gone = [n for (n,) in c.execute(_PURGE, (*_FINAL, before, before, batch)).fetchall()]
                marks = ",".join("?" * len(gone))
                changes = c.execute(f"DELETE FROM mirror_changes WHERE posting_number IN ({marks}) "
                                    "AND delivered = 1 AND at < ?", (*gone, before)).rowcount if gone else 0
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            counts["mirror_postings"] += len(gone)
            counts["mirror_changes"] += changes
            if len(gone) < batch:
                return counts
            await asyncio.sleep(0)  # one batch at a time: the bot's own writes go in between

    async def close(self) -> None:
        self._conn.close()
