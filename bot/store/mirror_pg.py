"""The order mirror's storage in PostgreSQL (DATABASE_URL; tables of PostgreSQL migration 3), for
several bot processes sharing one copy.

Implements `bot.orders.mirror.store.MirrorStore`; `tests/test_mirror_store_contract.py` runs the
same suite against it, the SQLite one and the in-memory one. Each method is one statement or one
short transaction (a push is durable when `put_push` returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.mirror.store import FINAL, PACKING, PURGE_BATCH, MirrorRow, PendingChange, PushRecord
from bot.orders.model import Order
from bot.store.pg_pool import LazyPool

_ROW = "data, fetched_at, state_at"
_PACKING = sorted(PACKING)
_FINAL = sorted(FINAL)
# The postings retention may delete (see MirrorStore.purge_postings; PostgreSQL migration 5's indexes
# serve it). FOR UPDATE re-checks status and state_at against a posting another process just wrote;
# SKIP LOCKED leaves one being written to the next round.
_PURGE = ("DELETE FROM mirror_postings WHERE posting_number IN (SELECT p.posting_number FROM mirror_postings p "
          "WHERE p.status = ANY($1::text[]) AND p.state_at < $2 AND NOT EXISTS (SELECT 1 FROM mirror_changes c "
          "WHERE c.posting_number = p.posting_number AND (NOT c.delivered OR c.at >= $2)) "
          "LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING posting_number")


def _row(data: str, fetched_at: float, state_at: float) -> MirrorRow:
    return MirrorRow(Order.model_validate_json(data), fetched_at, state_at)


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment else None


class PgMirrorStore:
    def __init__(self, url: str, *, pool_size: int = 3, pool: LazyPool | None = None) -> None:
        self._pool = pool or LazyPool(url, max_size=pool_size)

    async def get(self, posting_numbers: Sequence[str]) -> dict[str, MirrorRow]:
        rows = await (await self._pool.get()).fetch(
            f"SELECT posting_number, {_ROW} FROM mirror_postings WHERE posting_number = ANY($1::text[])",
            list(dict.fromkeys(posting_numbers)))
        return {r[0]: _row(r[1], r[2], r[3]) for r in rows}

    async def by_order(self, order_number: str) -> list[MirrorRow]:
        rows = await (await self._pool.get()).fetch(
            f"SELECT {_ROW} FROM mirror_postings WHERE order_number=$1 ORDER BY posting_number", order_number)
        return [_row(*r) for r in rows]

    async def commit(self, rows: Sequence[MirrorRow], changes: Sequence[PostingChange]) -> list[PostingChange]:
        added: list[PostingChange] = []
        pool = await self._pool.get()
        async with pool.acquire() as c, c.transaction():
            if rows:
                await c.executemany(
                    "INSERT INTO mirror_postings (posting_number, order_number, status, shipment_at, delivery_end_at, "
                    "created_at, products, data, fetched_at, state_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) "
                    "ON CONFLICT (posting_number) DO UPDATE SET order_number=excluded.order_number, "
                    "status=excluded.status, shipment_at=excluded.shipment_at, "
                    "delivery_end_at=excluded.delivery_end_at, created_at=excluded.created_at, "
                    "products=excluded.products, data=excluded.data, fetched_at=excluded.fetched_at, "
                    "state_at=excluded.state_at",
                    [(r.order.posting_number, r.order.order_number, r.order.status, _ts(r.order.shipment_date),
                      _ts(r.order.delivery_date_end), r.order.created_at.timestamp(),
                      "\n".join(p.name for p in r.order.products), r.order.model_dump_json(), r.fetched_at,
                      r.state_at) for r in rows])
            for ch in changes:
                new = await c.fetchval(
                    "INSERT INTO mirror_changes (key, posting_number, kind, detail, at, source, data) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (key) DO NOTHING RETURNING id",
                    ch.key, ch.posting_number, ch.kind.value, ch.detail, ch.at.timestamp(), ch.source,
                    ch.order.model_dump_json())
                if new is not None:
                    added.append(ch)
        return added

    async def pending_changes(self, limit: int = 500) -> list[PendingChange]:
        rows = await (await self._pool.get()).fetch(
            "SELECT id, posting_number, kind, detail, at, source, data FROM mirror_changes "
            "WHERE NOT delivered ORDER BY id LIMIT $1", limit)
        return [PendingChange(id_, PostingChange(number, ChangeKind(kind), detail, datetime.fromtimestamp(at, UTC),
                                                 Order.model_validate_json(data), source))
                for id_, number, kind, detail, at, source, data in rows]

    async def changes_delivered(self, ids: Sequence[int]) -> None:
        await (await self._pool.get()).execute(
            "UPDATE mirror_changes SET delivered = true WHERE id = ANY($1::bigint[])", list(ids))

    async def overdue(self, now: datetime) -> list[MirrorRow]:
        ts = now.timestamp()
        rows = await (await self._pool.get()).fetch(
            f"SELECT {_ROW} FROM mirror_postings WHERE (status = ANY($1::text[]) AND shipment_at < $2) "
            "OR (status = 'delivering' AND delivery_end_at < $2) ORDER BY posting_number", _PACKING, ts)
        return [_row(*r) for r in rows]

    async def product_names(self, since: datetime) -> list[str]:
        rows = await (await self._pool.get()).fetch("SELECT products FROM mirror_postings WHERE created_at >= $1",
                                                    since.timestamp())
        return sorted({name for (products,) in rows for name in products.split("\n") if name})

    async def count(self) -> int:
        return int(await (await self._pool.get()).fetchval("SELECT count(*) FROM mirror_postings"))

    async def get_mark(self, name: str) -> str | None:
        return await (await self._pool.get()).fetchval("SELECT value FROM mirror_marks WHERE name=$1", name)

    async def set_mark(self, name: str, value: str) -> None:
        await (await self._pool.get()).execute(
            "INSERT INTO mirror_marks (name, value) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET value=excluded.value", name, value)

    async def put_push(self, key: str, message_type: str, payload: str, at: float) -> int | None:
        return await (await self._pool.get()).fetchval(
            "INSERT INTO mirror_pushes (key, message_type, payload, received_at) VALUES ($1,$2,$3,$4) "
            "ON CONFLICT (key) DO NOTHING RETURNING id", key, message_type, payload, at)

    async def pending_pushes(self, limit: int = 500) -> list[PushRecord]:
        rows = await (await self._pool.get()).fetch(
            "SELECT id, key, message_type, payload, received_at, attempts FROM mirror_pushes "
            "WHERE done_at IS NULL ORDER BY id LIMIT $1", limit)
        return [PushRecord(*r) for r in rows]

    async def pushes_done(self, ids: Sequence[int], at: float) -> None:
        await (await self._pool.get()).execute(
            "UPDATE mirror_pushes SET done_at = $1 WHERE id = ANY($2::bigint[])", at, list(ids))

    async def push_retry(self, ids: Sequence[int]) -> None:
        await (await self._pool.get()).execute(
            "UPDATE mirror_pushes SET attempts = attempts + 1 WHERE id = ANY($1::bigint[])", list(ids))

    async def purge_pushes(self, before: float) -> int:
        status = await (await self._pool.get()).execute(
            "DELETE FROM mirror_pushes WHERE done_at IS NOT NULL AND done_at < $1", before)
        return int(status.rsplit(" ", 1)[-1])

    async def purge_postings(self, before: float, batch: int = PURGE_BATCH) -> dict[str, int]:
        counts = {"mirror_postings": 0, "mirror_changes": 0}
        pool = await self._pool.get()
        while True:
            async with pool.acquire() as c, c.transaction():
                gone = [r[0] for r in await c.fetch(_PURGE, _FINAL, before, batch)]
                status = await c.execute("DELETE FROM mirror_changes WHERE posting_number = ANY($1::text[]) "
                                         "AND delivered AND at < $2", gone, before) if gone else "DELETE 0"
            counts["mirror_postings"] += len(gone)
            counts["mirror_changes"] += int(status.rsplit(" ", 1)[-1])
            if len(gone) < batch:
                return counts

    async def close(self) -> None:
        await self._pool.close()
