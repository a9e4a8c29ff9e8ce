"""The order mirror: a local copy of the shop's postings, kept fresh by sync, push and targeted reads,
that answers lookups (it is an `OrderProvider`) and tells subscribers what changed.

- `sync()`: the first run lists every posting of the last `sync_days` (a baseline: no NEW events);
  later runs read the FBS postings whose status changed since the high-water mark (`/v4/posting/
  fbs/list` by `last_changed_status_date`, minus an overlap for clock skew), a full sweep of the
  period every `full_every` seconds (FBO postings, dates that moved without a status change),
  and the returns that moved. Then the deadlines: postings past their cutoff or delivery date.
- `process_pushes()`: pushes stored by the push endpoint, applied in the order received.
- `find(ref)`: from the mirror when the copy is younger than `max_age`; else a targeted read
  (`fbs/get`), or for an order number the list methods (two calls, not one per posting); when Ozon
  cannot answer, the copy we have, however old (its `fetched_at` says how old).

Retention (`purge(now)`, run by the periodic retention with MIRROR_KEEP_DAYS): postings in a final
status whose latest status change is older than `keep_days` are forgotten (`MirrorStore.purge_postings`).
Asked about again, such a posting is read from Ozon like any posting the mirror lacks, and stored as a
baseline: a first sight of a posting created before the window is history, not news (no NEW; the keys
of its old events went with it, so they are not compared either).

Every posting received is compared with the stored copy (`diff.changes`); the changes are stored
in the same transaction as the posting, then handed to every sink (`ChangeSink`), oldest first. A
sink that fails gets them again at the next dispatch: consumers recognise repeats by `key`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.orders.changes import ChangeKind, ChangeSink, PostingChange
from bot.orders.errors import OrderBackendError, OrderBackendUnavailable
from bot.orders.mirror import diff
from bot.orders.mirror.push import PING, Outcome, Update, posting_of, push_update
from bot.orders.mirror.source import PostingSource
from bot.orders.mirror.store import MirrorRow, MirrorStore
from bot.orders.model import Order, ReturnInfo
from bot.orders.numbers import OrderRef

log = logging.getLogger(__name__)

PushHandler = Callable[[dict[str, Any]], Awaitable[None]]
MARK_CHANGED = "fbs_changed"  # high-water mark of the incremental FBS sync (ISO, UTC)
MARK_FULL = "full_sweep"  # when the last full sweep read (ISO, UTC)
MARK_RETURNS = "returns"  # high-water mark of the returns sync (ISO, UTC)
OVERLAP = timedelta(minutes=2)  # each incremental read starts this much before the mark (clock skew)
PUSH_ATTEMPTS = 5  # a push whose handler keeps failing is given up after this many passes
PRODUCT_DAYS = 30


@dataclass
class SyncReport:
    mode: str  # "baseline" or "incremental"
    read: int = 0  # postings read
    returns: int = 0  # postings whose returns were read
    changes: int = 0  # changes stored (new keys)
    overdue: int = 0
    full_sweep: bool = False
    kinds: dict[str, int] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Mirror:
    def __init__(self, store: MirrorStore, source: PostingSource, *, sinks: Sequence[ChangeSink] = (),
                 max_age: float = 3600.0, sync_days: float = 30.0, full_every: float = 1800.0,
                 handlers: Mapping[str, PushHandler] | None = None, upstream: Any = None,
                 clock: Callable[[], float] = time.time, keep_days: float = 0.0) -> None:
        self.store, self.source = store, source
        self.sinks = list(sinks)
        self.max_age, self.sync_days, self.full_every = max_age, sync_days, full_every
        self.keep_days = keep_days  # retention: final postings unchanged this long are forgotten; 0 keeps them
        self.handlers = dict(handlers or {})
        self.upstream = upstream  # the provider behind the source (cancelling, key check), when there is one
        self._clock = clock
        self._dispatching = asyncio.Lock()
        self._writing = asyncio.Lock()  # read-compare-write of postings, one at a time (sync, pushes, lookups)
        self._syncing = asyncio.Lock()
        self.sync_wanted = asyncio.Event()  # a push named a posting we do not hold: sync early

    def subscribe(self, sink: ChangeSink) -> None:
        """Receive every change from now on, in batches, oldest first. Subscribe before the service
        starts: changes stored while nobody listens are not kept for later (a late subscriber would get
        stale news), those a subscriber failed to take are (it gets them again)."""
        self.sinks.append(sink)

    def on_push(self, message_type: str, handler: PushHandler) -> None:
        """Call `handler(payload)` for each stored push of this type (e.g. TYPE_NEW_MESSAGE), in order,
        at least once: a failure is retried at the next pass, up to PUSH_ATTEMPTS times."""
        self.handlers[message_type] = handler

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def __getattr__(self, name: str) -> Any:
        """What the provider behind the mirror offers besides lookups (cancel_posting, cancel_reasons, roles)."""
        upstream = self.__dict__.get("upstream")
        if upstream is None or name.startswith("_"):
            raise AttributeError(name)
        found = getattr(upstream, name)
        if name == "cancel_posting":
            async def cancel_posting(posting_number: str, *args: Any, **kwargs: Any) -> Any:
                done = await found(posting_number, *args, **kwargs)
                with contextlib.suppress(OrderBackendError):  # the sync will bring it otherwise
                    fresh = await self.source.get(posting_number)
                    if fresh is not None:
                        await self.apply([fresh], source="lookup")
                return done
            return cancel_posting
        return found

    # --- applying postings ---------------------------------------------------------------------------

    async def apply(self, orders: Sequence[Order], *, source: str, read_at: float | None = None,
                    baseline: bool = False, refresh: bool = True,
                    state_at: Mapping[str, float] | None = None) -> list[PostingChange]:
        """Store `orders` as read at `read_at` (epoch; default now); emit and dispatch what changed.

        `refresh=False` (a push, returns): the data is partial news about the held copy, which stays as
        old as it was (`fetched_at`). `state_at`: the moment of a pushed status change, per posting. A
        posting whose stored status is newer than the read (a push applied meanwhile) is left as is."""
        if not orders:
            return []
        async with self._writing:
            added = await self._apply(orders, source, read_at, baseline, refresh, state_at or {})
        await self.dispatch()
        return added

    async def _apply(self, orders: Sequence[Order], source: str, read_at: float | None, baseline: bool,
                     refresh: bool, state_at: Mapping[str, float]) -> list[PostingChange]:
        now_ts = self._clock()
        read_at = now_ts if read_at is None else read_at
        now = datetime.fromtimestamp(now_ts, UTC)
        held = await self.store.get([o.posting_number for o in orders])
        history = now_ts - self.keep_days * 86400 if self.keep_days else None  # created before: not news
        rows: list[MirrorRow] = []
        changes: list[PostingChange] = []
        siblings: dict[str, set[str]] = {}
        for o in orders:
            siblings.setdefault(o.order_number, set()).add(o.posting_number)
        for new in orders:
            old = held.get(new.posting_number)
            if not new.related_postings:
                new = await self._with_related(new, old, siblings[new.order_number])
            pushed_at = state_at.get(new.posting_number)
            if old is not None and pushed_at is None and old.state_at > read_at and \
                    (new.status, new.substatus) != (old.order.status, old.order.substatus):
                continue  # a push told us of a later status than this read saw
            merged, moment = self._merge(old, new, read_at, pushed_at)
            fetched_at = old.fetched_at if old is not None and not refresh else read_at
            rows.append(MirrorRow(merged, fetched_at, moment))
            at = merged.status_changed_at if old is None or moment != old.state_at else None
            found = diff.changes(old.order if old else None, merged, at=at or now, source=source, now=now)
            old_news = baseline or (history is not None and new.created_at.timestamp() < history)
            changes += [c for c in found if not (old_news and c.kind is ChangeKind.NEW)]
        return await self.store.commit(rows, changes)

    async def _with_related(self, new: Order, old: MirrorRow | None, batch: set[str]) -> Order:
        """The list methods carry no `related_postings`: the other postings of its order that the mirror
        sees (in this batch, in the copy held, or held under the same order number) stand in."""
        related = set(batch)
        if old is not None:
            related |= set(old.order.related_postings)
        elif len(batch) == 1:
            related |= {r.order.posting_number for r in await self.store.by_order(new.order_number)}
        related.discard(new.posting_number)
        return new.model_copy(update={"related_postings": sorted(related)}) if related else new

    def _merge(self, old: MirrorRow | None, new: Order, read_at: float,
               pushed_at: float | None) -> tuple[Order, float]:
        """The posting to store and the moment of its latest status change (epoch). The Seller API
        gives no such moment: it is the push's `changed_state_date`, else when we first saw the status."""
        update: dict[str, Any] = {}
        if old is not None and not new.returns and old.order.returns:
            update["returns"] = old.order.returns  # lists carry no returns: the returns sync does
        if old is not None and (new.status, new.substatus) == (old.order.status, old.order.substatus):
            update["status_changed_at"] = old.order.status_changed_at
            moment = old.state_at
        elif new.status_changed_at is not None:
            moment = pushed_at or new.status_changed_at.timestamp()
        else:
            moment = pushed_at or read_at
            update["status_changed_at"] = datetime.fromtimestamp(moment, UTC)
        return (new.model_copy(update=update) if update else new), moment

    async def purge(self, now: float) -> dict[str, int]:
        """Retention's share (a `bot.store.retention.Purger`): forget the final postings whose latest
        status change is older than `keep_days` before `now`, with their delivered changes. No lock
        against `apply`: a posting written back right after it went is simply held again."""
        if not self.keep_days:
            return {}
        return await self.store.purge_postings(now - self.keep_days * 86400)

    async def dispatch(self) -> int:
        """Hand stored changes to the sinks, oldest first; returns how many were handed over."""
        if not self.sinks:
            pending = await self.store.pending_changes(10_000)
            await self.store.changes_delivered([p.id for p in pending])
            return 0
        sent = 0
        async with self._dispatching:
            while pending := await self.store.pending_changes():
                batch = [p.change for p in pending]
                try:
                    for sink in self.sinks:
                        await sink(batch)
                except Exception:
                    log.exception("a change sink failed; %d changes stay pending", len(batch))
                    return sent
                await self.store.changes_delivered([p.id for p in pending])
                sent += len(batch)
        return sent

    # --- sync ------------------------------------------------------------------------------------------

    async def sync(self) -> SyncReport:
        async with self._syncing:
            return await self._sync()

    async def _sync(self) -> SyncReport:
        now = self.now()
        mark = _parse(await self.store.get_mark(MARK_CHANGED))
        period_start = now - timedelta(days=self.sync_days)
        if mark is None:
            report = SyncReport("baseline", full_sweep=True)
            orders = await self.source.listed(period_start, now)
            report.read = len(orders)
            added = await self.apply(orders, source="sync", read_at=now.timestamp(), baseline=True)
            await self.store.set_mark(MARK_FULL, _iso(now))
            returns_since = period_start
        else:
            report = SyncReport("incremental")
            orders = await self.source.changed(mark - OVERLAP, now)
            report.read = len(orders)
            added = await self.apply(orders, source="sync", read_at=now.timestamp())
            full = _parse(await self.store.get_mark(MARK_FULL))
            if full is None or (now - full).total_seconds() >= self.full_every:
                swept = await self.source.listed(period_start, now)
                report.read += len(swept)
                report.full_sweep = True
                added += await self.apply(swept, source="sync", read_at=now.timestamp())
                await self.store.set_mark(MARK_FULL, _iso(now))
            returns_since = (_parse(await self.store.get_mark(MARK_RETURNS)) or period_start) - OVERLAP
        moved = await self.source.returns(returns_since, now)
        report.returns = len(moved)
        added += await self._apply_returns(moved, now)
        await self.store.set_mark(MARK_RETURNS, _iso(now))
        await self.store.set_mark(MARK_CHANGED, _iso(now))
        overdue = await self.check_deadlines()
        report.overdue = len(overdue)
        added += overdue
        report.changes = len(added)
        for change in added:
            report.kinds[change.kind.value] = report.kinds.get(change.kind.value, 0) + 1
        return report

    async def _apply_returns(self, moved: dict[str, list[ReturnInfo]], now: datetime) -> list[PostingChange]:
        held = await self.store.get(list(moved))
        updated = []
        for number, returns in moved.items():
            row = held.get(number)
            if row is None:
                continue  # a return of a posting older than the mirror's period
            by_id = {r.id: r for r in row.order.returns} | {r.id: r for r in returns}
            merged = sorted(by_id.values(), key=lambda r: (r.created_at or now, r.id))
            if merged != row.order.returns:
                updated.append(row.order.model_copy(update={"returns": merged}))
        # the rest of the posting is as held: read_at = when it was read, so no status is overridden
        return await self.apply(updated, source="sync", refresh=False)

    async def check_deadlines(self) -> list[PostingChange]:
        """SHIPMENT_LATE / DELIVERY_LATE for every posting past its deadline (each deadline once)."""
        now = self.now()
        async with self._writing:
            late = [c for row in await self.store.overdue(now) for c in diff.late(row.order, now, "sync")]
            added = await self.store.commit([], late)
        await self.dispatch()
        return added

    # --- push --------------------------------------------------------------------------------------------

    async def process_pushes(self) -> int:
        """Apply the stored pushes in the order received; returns how many were processed."""
        done: list[int] = []
        retry: list[int] = []
        pending = await self.store.pending_pushes()
        for record in pending:
            await asyncio.sleep(0)  # one push at a time: the endpoint's acknowledgements go out in between
            try:
                payload = json.loads(record.payload)
            except ValueError:
                done.append(record.id)
                continue
            kind = str(payload.get("message_type") or "") if isinstance(payload, dict) else ""
            handler = self.handlers.get(kind)
            try:
                if handler is not None:
                    await handler(payload)
                else:
                    await self._apply_push(payload)
            except Exception:
                log.exception("push %s (%s) failed; attempt %d", record.id, kind, record.attempts + 1)
                if record.attempts + 1 < PUSH_ATTEMPTS:
                    retry.append(record.id)
                    continue
            done.append(record.id)
        if done:
            await self.store.pushes_done(done, self._clock())
        if retry:
            await self.store.push_retry(retry)
        return len(done)

    async def _apply_push(self, payload: dict[str, Any]) -> None:
        if payload.get("message_type") == PING:
            return
        number = posting_of(payload)
        row = (await self.store.get([number])).get(number) if number else None
        outcome = push_update(row, payload)
        if outcome is Outcome.UNKNOWN:
            self.sync_wanted.set()
        elif isinstance(outcome, Update):
            state_at = {number: outcome.state_at} if outcome.state_at is not None else None
            await self.apply([outcome.order], source="push", refresh=False, state_at=state_at)

    # --- OrderProvider ---------------------------------------------------------------------------------

    def fresh(self, row: MirrorRow) -> bool:
        return self._clock() - row.fetched_at < self.max_age

    async def find(self, ref: OrderRef) -> list[Order]:
        if ref.posting_number:
            return await self._posting(ref.posting_number)
        return await self._order(ref.order_number)

    async def _posting(self, number: str) -> list[Order]:
        row = (await self.store.get([number])).get(number)
        if row is not None and self.fresh(row):
            return [row.order]
        try:
            order = await self.source.get(number)
        except OrderBackendUnavailable:
            if row is not None:
                return [row.order]
            raise
        if order is None:
            return []
        await self.apply([order], source="lookup")
        held = (await self.store.get([number])).get(number)
        return [held.order if held else order]

    async def _order(self, number: str) -> list[Order]:
        rows = await self.store.by_order(number)
        if rows and all(self.fresh(r) for r in rows):
            return [r.order for r in rows]
        try:
            orders = await self.source.order(number)
        except OrderBackendUnavailable:
            if rows:
                return [r.order for r in rows]
            raise
        except OrderBackendError as exc:
            if rows:
                return [r.order for r in rows]
            raise OrderBackendUnavailable(f"listing order {number} failed: {exc}") from exc
        await self.apply(orders, source="lookup")
        return [r.order for r in await self.store.by_order(number)]

    async def product_names(self) -> list[str]:
        names = await self.store.product_names(self.now() - timedelta(days=PRODUCT_DAYS))
        pool = getattr(self.upstream, "product_names", None)
        if not names and pool is not None:
            return list(await pool())
        return names

    async def close(self) -> None:
        await self.source.close()
        await self.store.close()
