"""The demo order provider: orders in an embedded SQLite file, seeded with realistic scenarios."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from bot.orders.demo_data import SHOP_CATALOGUE, scenario_rows
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order
from bot.orders.numbers import OrderRef

TABLE = "demo_orders"


def seed(path: str | Path, now: datetime | None = None) -> int:
    """(Re)write the demo orders with dates relative to `now`. Returns how many were written."""
    db = sqlite_utils.Database(str(path))
    rows = scenario_rows(now or datetime.now(UTC))
    table = db.table(TABLE)
    table.drop(ignore=True)
    table.insert_all(rows, pk="posting_number")
    table.create_index(["order_number"])
    db.conn.close()
    return len(rows)


class DemoOrderProvider:
    """Reads the demo table once and again whenever the file changes (e.g. `ozonbot orders seed`)."""

    def __init__(self, path: str | Path, *, seed_if_empty: bool = True) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if seed_if_empty and TABLE not in sqlite_utils.Database(self.path).table_names():
            seed(self.path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._stamp: tuple[float, int] | None = None
        self._checked_at = 0.0  # a changed file (`ozonbot orders seed`) is noticed within a second
        self._by_posting: dict[str, Order] = {}
        self._by_order: dict[str, list[Order]] = {}

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._stamp is not None and now - self._checked_at < 1.0:
            return
        self._checked_at = now
        st = os.stat(self.path)
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        rows = self._conn.execute(f"SELECT data FROM {TABLE} ORDER BY posting_number").fetchall()
        orders = [Order.model_validate_json(r[0]) for r in rows]
        self._by_posting = {o.posting_number: o for o in orders}
        self._by_order = {}
        for o in orders:
            self._by_order.setdefault(o.order_number, []).append(o)
        self._stamp = stamp

    async def find(self, ref: OrderRef) -> list[Order]:
        try:
            self._refresh()
        except (sqlite3.Error, OSError) as exc:  # the file is the backend: unreadable means unavailable
            raise OrderBackendUnavailable(f"demo orders unreadable: {exc}") from exc
        if ref.posting_number:
            found = self._by_posting.get(ref.posting_number)
            return [found] if found else []
        return list(self._by_order.get(ref.order_number, []))

    async def all(self) -> list[Order]:
        """Every demo posting (the order mirror's demo source lists them)."""
        try:
            self._refresh()
        except (sqlite3.Error, OSError) as exc:
            raise OrderBackendUnavailable(f"demo orders unreadable: {exc}") from exc
        return list(self._by_posting.values())

    async def product_names(self) -> list[str]:
        """What the demo shop sells: every product of its orders and the rest of its catalogue."""
        try:
            self._refresh()
        except (sqlite3.Error, OSError) as exc:
            raise OrderBackendUnavailable(f"demo orders unreadable: {exc}") from exc
        names = {p.name for o in self._by_posting.values() for p in o.products}
        return sorted(names | set(SHOP_CATALOGUE))

    def scenarios(self, status: str | None = None) -> list[dict]:
        sql = f"SELECT key, posting_number, order_number, status, phone_last4, scenario FROM {TABLE}"
        rows = (self._conn.execute(sql + " WHERE status=? ORDER BY rowid", (status,)) if status
                else self._conn.execute(sql + " ORDER BY rowid")).fetchall()
        keys = ("key", "posting_number", "order_number", "status", "phone_last4", "scenario")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def close(self) -> None:
        self._conn.close()
