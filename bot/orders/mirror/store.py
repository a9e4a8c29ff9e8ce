"""Where the order mirror keeps its copy: the `MirrorStore` protocol and its in-memory implementation.

Implementations: `MemoryMirrorStore` (here: tests, the demo, benchmarks),
`bot.store.mirror_sqlite.SqliteMirrorStore` (the conversation database, migration 7) and
`bot.store.mirror_pg.PgMirrorStore` (PostgreSQL with DATABASE_URL, its migration 3);
`tests/test_mirror_store_contract.py` is the suite every implementation must pass.

What it holds:
- postings: the latest `Order` of each posting with when it was read from Ozon (`fetched_at`) and
  the moment of the latest status change applied (`state_at`, to refuse a push older than it);
- changes: an outbox of `PostingChange`s, unique by `key`, written in the same transaction as the
  postings they describe and handed to the sinks afterwards (nothing lost at a crash, nothing twice);
- marks: named values (sync high-water marks);
- pushes: Ozon push notifications as received, unique by a key, until they are processed.

Retention (`purge_postings`, MIRROR_KEEP_DAYS): a posting in a FINAL status whose latest status change
is older than the window goes, with its changes, once every change of it is delivered and older than the
window; a posting in any other status stays however old, and so does every undelivered change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.orders.changes import PostingChange
from bot.orders.model import Order

PACKING = frozenset({"awaiting_packaging", "awaiting_deliver", "awaiting_registration", "awaiting_approve",
                     "acceptance_in_progress"})
"""Statuses in which the shop still has to hand the posting over by its `shipment_date`."""
FINAL = frozenset({"delivered", "cancelled", "cancelled_from_split_pending"})
"""Statuses a posting does not leave (a return moves on the posting's returns, not its status):
retention may forget such a posting. `not_accepted` and the arbitrations are not final: Ozon settles them."""
PURGE_BATCH = 500  # postings deleted per transaction by `purge_postings`


@dataclass(frozen=True, slots=True)
class MirrorRow:
    order: Order
    fetched_at: float  # when Ozon last told us this posting's data (epoch seconds)
    state_at: float = 0.0  # the moment of the latest status change applied (Ozon's, else when we saw it)


@dataclass(frozen=True, slots=True)
class PushRecord:
    id: int
    key: str
    message_type: str
    payload: str  # the JSON body as received
    received_at: float
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PendingChange:
    id: int
    change: PostingChange


@runtime_checkable
class MirrorStore(Protocol):
    async def get(self, posting_numbers: Sequence[str]) -> dict[str, MirrorRow]: ...

    async def by_order(self, order_number: str) -> list[MirrorRow]: ...

    async def commit(self, rows: Sequence[MirrorRow], changes: Sequence[PostingChange]) -> list[PostingChange]:
        """Upsert `rows` and add the `changes` whose key is new, in one transaction; returns those added."""
        ...

    async def pending_changes(self, limit: int = 500) -> list[PendingChange]:
        """Changes not yet handed to the sinks, oldest first."""
        ...

    async def changes_delivered(self, ids: Sequence[int]) -> None: ...

    async def overdue(self, now: datetime) -> list[MirrorRow]:
        """Postings past a deadline: packing statuses after `shipment_date`, delivering after `delivery_date_end`."""
        ...

    async def product_names(self, since: datetime) -> list[str]:
        """Names of the products of postings created since `since`."""
        ...

    async def count(self) -> int: ...

    async def get_mark(self, name: str) -> str | None: ...

    async def set_mark(self, name: str, value: str) -> None: ...

    async def put_push(self, key: str, message_type: str, payload: str, at: float) -> int | None:
        """Store a received push; its id, or None when one with this key was stored already."""
        ...

    async def pending_pushes(self, limit: int = 500) -> list[PushRecord]:
        """Pushes received and not yet processed, in the order received."""
        ...

    async def pushes_done(self, ids: Sequence[int], at: float) -> None: ...

    async def push_retry(self, ids: Sequence[int]) -> None:
        """Count one more attempt for pushes left pending."""
        ...

    async def purge_pushes(self, before: float) -> int:
        """Forget pushes processed before `before` (epoch); returns how many."""
        ...

    async def purge_postings(self, before: float, batch: int = PURGE_BATCH) -> dict[str, int]:
        """Forget the postings in a FINAL status whose latest status change (`state_at`) is before
        `before` (epoch) and that have no change undelivered or at/after `before`, with their changes;
        `batch` postings per transaction. Rows deleted per table (mirror_postings, mirror_changes)."""
        ...

    async def close(self) -> None: ...


def is_overdue(order: Order, now: datetime) -> bool:
    if order.status in PACKING and order.shipment_date is not None and order.shipment_date < now:
        return True
    return order.status == "delivering" and order.delivery_date_end is not None and order.delivery_date_end < now


@dataclass
class MemoryMirrorStore:
    """The mirror in a process's memory (lost at exit)."""

    rows: dict[str, MirrorRow] = field(default_factory=dict)
    _changes: list[tuple[int, PostingChange, bool]] = field(default_factory=list)
    _keys: set[str] = field(default_factory=set)
    _marks: dict[str, str] = field(default_factory=dict)
    _pushes: dict[int, tuple[PushRecord, float | None]] = field(default_factory=dict)
    _push_keys: set[str] = field(default_factory=set)
    _last_push: int = 0
    _last_change: int = 0

    async def get(self, posting_numbers: Sequence[str]) -> dict[str, MirrorRow]:
        return {n: self.rows[n] for n in posting_numbers if n in self.rows}

    async def by_order(self, order_number: str) -> list[MirrorRow]:
        found = [r for r in self.rows.values() if r.order.order_number == order_number]
        return sorted(found, key=lambda r: r.order.posting_number)

    async def commit(self, rows: Sequence[MirrorRow], changes: Sequence[PostingChange]) -> list[PostingChange]:
        for row in rows:
            self.rows[row.order.posting_number] = row
        added = []
        for change in changes:
            if change.key not in self._keys:
                self._keys.add(change.key)
                self._last_change += 1
                self._changes.append((self._last_change, change, False))
                added.append(change)
        return added

    async def pending_changes(self, limit: int = 500) -> list[PendingChange]:
        return [PendingChange(i, c) for i, c, done in self._changes if not done][:limit]

    async def changes_delivered(self, ids: Sequence[int]) -> None:
        wanted = set(ids)
        self._changes = [(i, c, done or i in wanted) for i, c, done in self._changes]

    async def overdue(self, now: datetime) -> list[MirrorRow]:
        return sorted((r for r in self.rows.values() if is_overdue(r.order, now)),
                      key=lambda r: r.order.posting_number)

    async def product_names(self, since: datetime) -> list[str]:
        return sorted({p.name for r in self.rows.values() if r.order.created_at >= since
                       for p in r.order.products if p.name})

    async def count(self) -> int:
        return len(self.rows)

    async def get_mark(self, name: str) -> str | None:
        return self._marks.get(name)

    async def set_mark(self, name: str, value: str) -> None:
        self._marks[name] = value

    async def put_push(self, key: str, message_type: str, payload: str, at: float) -> int | None:
        if key in self._push_keys:
            return None
        self._push_keys.add(key)
        self._last_push = push_id = self._last_push + 1
        self._pushes[push_id] = (PushRecord(push_id, key, message_type, payload, at), None)
        return push_id

    async def pending_pushes(self, limit: int = 500) -> list[PushRecord]:
        return [p for p, done in self._pushes.values() if done is None][:limit]

    async def pushes_done(self, ids: Sequence[int], at: float) -> None:
        for push_id in ids:
            if push_id in self._pushes:
                self._pushes[push_id] = (self._pushes[push_id][0], at)

    async def push_retry(self, ids: Sequence[int]) -> None:
        for push_id in ids:
            record, done = self._pushes[push_id]
            self._pushes[push_id] = (PushRecord(record.id, record.key, record.message_type, record.payload,
                                                record.received_at, record.attempts + 1), done)

    async def purge_pushes(self, before: float) -> int:
        old = [i for i, (_, done) in self._pushes.items() if done is not None and done < before]
        for push_id in old:
            self._push_keys.discard(self._pushes.pop(push_id)[0].key)
        return len(old)

    async def purge_postings(self, before: float, batch: int = PURGE_BATCH) -> dict[str, int]:
        busy = {c.posting_number for _, c, done in self._changes if not done or c.at.timestamp() >= before}
        gone = {n for n, r in self.rows.items() if r.order.status in FINAL and r.state_at < before and n not in busy}
        for number in gone:
            del self.rows[number]
        kept = [(i, c, done) for i, c, done in self._changes if c.posting_number not in gone]
        self._keys -= {c.key for _, c, _ in self._changes if c.posting_number in gone}
        dropped, self._changes = len(self._changes) - len(kept), kept
        return {"mirror_postings": len(gone), "mirror_changes": dropped}

    async def close(self) -> None:
        return None
