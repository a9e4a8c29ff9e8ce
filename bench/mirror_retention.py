"""Benchmark the order mirror's retention (MirrorStore.purge_postings) on a SQLite file: a shop that ran
for years, N postings (default 100,000), 90% delivered or cancelled long ago with 3 delivered changes
each, the rest recent or still moving. Side by side, on copies of the same file:
  - batches of 500 (what the bot does), and
  - one transaction for everything (batch larger than the table),
printed: rows deleted, CPU and wall time of the whole purge, and how long the database was locked for
writing (each transaction: median and longest), which is what the bot's own writes wait behind.

    .venv/bin/python bench/mirror_retention.py [--postings 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.mirror.store import MirrorRow
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import sample

DAY = 86400.0


async def build(path: Path, postings: int) -> float:
    """The shop's mirror; returns the purge cut-off (now minus 120 days)."""
    now = time.time()
    store = SqliteMirrorStore(path)
    template = sample("10000000-0001-1")
    for start in range(0, postings, 5000):
        rows, changes = [], []
        for i in range(start, min(start + 5000, postings)):
            number = f"{10_000_000 + i}-0001-1"
            old = i % 10 != 0
            status = ("delivered" if i % 3 else "cancelled") if old else ("delivering" if i % 2 else "delivered")
            at = now - (200 + i % 700) * DAY if old else now - (i % 30) * DAY
            order = template.model_copy(update={"posting_number": number, "order_number": number[:-2],
                                                "status": status})
            rows.append(MirrorRow(order, at, at))
            when = template.created_at.fromtimestamp(at, template.created_at.tzinfo)
            changes += [PostingChange(number, kind, detail, when, order, "sync")
                        for kind, detail in ((ChangeKind.NEW, ""), (ChangeKind.STATUS, "delivering"),
                                             (ChangeKind.STATUS, status))]
        await store.commit(rows, changes)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE mirror_changes SET delivered = 1")
    conn.close()
    await store.close()
    return now - 120 * DAY


class Held:
    """The connection during one write transaction: notes how long it held the database at COMMIT."""

    def __init__(self, store: Timed, conn: sqlite3.Connection) -> None:
        self.store, self.conn, self.began = store, conn, time.perf_counter()

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        cursor = self.conn.execute(sql, *args)
        if sql in ("COMMIT", "ROLLBACK"):
            self.store.held.append(time.perf_counter() - self.began)
        return cursor


class Timed(SqliteMirrorStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.held: list[float] = []  # seconds each write transaction held the database

    def _tx(self) -> sqlite3.Connection:
        return Held(self, super()._tx())  # type: ignore[return-value]


async def purge(path: Path, before: float, batch: int) -> tuple[dict[str, int], float, float, list[float]]:
    store = Timed(path)
    cpu, wall = time.process_time(), time.perf_counter()
    counts = await store.purge_postings(before, batch=batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await store.close()
    return counts, cpu, wall, store.held


async def main(postings: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "shop.sqlite3"
        before = await build(source, postings)
        print(f"{postings:,} postings, {postings * 3:,} delivered changes; 90% final and older than 120 days")
        results = {}
        for name, batch in (("batches of 500", 500), ("one transaction", postings + 1)):
            copy = Path(tmp) / f"{batch}.sqlite3"
            shutil.copy(source, copy)
            results[name] = await purge(copy, before, batch)
        for name, (counts, cpu, wall, held) in results.items():
            print(f"{name:16} deleted {counts['mirror_postings']:,} postings, {counts['mirror_changes']:,} changes; "
                  f"cpu {cpu:.2f} s, wall {wall:.2f} s; {len(held)} write locks, median "
                  f"{statistics.median(held) * 1000:.0f} ms, longest {max(held) * 1000:.0f} ms")
        ratio = max(results["one transaction"][3]) / max(results["batches of 500"][3])
        print(f"longest lock: one transaction / batches = {ratio:.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--postings", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().postings))
