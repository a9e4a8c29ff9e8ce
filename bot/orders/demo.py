"""The demo order provider: orders in an embedded SQLite file, seeded with realistic scenarios."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from bot.orders.demo_data import scenario_rows
from bot.orders.model import Order
from bot.orders.numbers import OrderRef

TABLE = "demo_orders"


def seed(path: str | Path, now: datetime | None = None) -> int:
    """(Re)write the demo orders with dates relative to `now`. Returns how many were written."""
    db = sqlite_utils.Database(str(path))
    rows = scenario_rows(now or datetime.now(timezone.utc))
    db[TABLE].drop(ignore=True)
    db[TABLE].insert_all(rows, pk="posting_number")
    db[TABLE].create_index(["order_number"])
    db.conn.close()
    return len(rows)


class DemoOrderProvider:
    def __init__(self, path: str | Path, *, seed_if_empty: bool = True) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if seed_if_empty and TABLE not in sqlite_utils.Database(self.path).table_names():
            seed(self.path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)

    async def find(self, ref: OrderRef) -> list[Order]:
        if ref.posting_number:
            rows = self._conn.execute(f"SELECT data FROM {TABLE} WHERE posting_number=?", (ref.posting_number,)).fetchall()
        else:
            rows = self._conn.execute(f"SELECT data FROM {TABLE} WHERE order_number=? ORDER BY posting_number",
                                      (ref.order_number,)).fetchall()
        return [Order.model_validate_json(r[0]) for r in rows]

    def scenarios(self, status: str | None = None) -> list[dict]:
        sql = f"SELECT key, posting_number, order_number, status, phone_last4, scenario FROM {TABLE}"
        rows = (self._conn.execute(sql + " WHERE status=? ORDER BY rowid", (status,)) if status
                else self._conn.execute(sql + " ORDER BY rowid")).fetchall()
        keys = ("key", "posting_number", "order_number", "status", "phone_last4", "scenario")
        return [dict(zip(keys, r)) for r in rows]

    async def close(self) -> None:
        self._conn.close()
