"""The order mirror's storage contract: one suite, run against every `MirrorStore` implementation
(in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.mirror.store import MemoryMirrorStore, MirrorRow, MirrorStore
from bot.store.mirror_pg import PgMirrorStore
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import sample

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request, tmp_path) -> AsyncIterator[MirrorStore]:
    s: MirrorStore
    if request.param == "postgresql":
        s = PgMirrorStore(request.getfixturevalue("pg_url"))
    else:
        s = MemoryMirrorStore() if request.param == "memory" else SqliteMirrorStore(tmp_path / "m.sqlite3")
    yield s
    await s.close()


def row(number: str = "12345678-0001-1", fetched_at: float = 100.0, state_at: float = 50.0, **fields) -> MirrorRow:
    return MirrorRow(sample(number, **fields), fetched_at, state_at)


def change(r: MirrorRow, kind: ChangeKind = ChangeKind.STATUS, detail: str = "delivering") -> PostingChange:
    return PostingChange(r.order.posting_number, kind, detail, NOW, r.order, "sync")


def test_both_implementations_have_every_method_of_the_protocol():
    members = {n: f for n, f in vars(MirrorStore).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert {"get", "commit", "put_push", "overdue", "close"} <= members.keys()
    for cls in (MemoryMirrorStore, SqliteMirrorStore, PgMirrorStore):
        for name, proto in members.items():
            impl = getattr(cls, name, None)
            assert impl is not None and inspect.iscoroutinefunction(impl), f"{cls.__name__}.{name} must be async"
            assert list(inspect.signature(impl).parameters) == list(inspect.signature(proto).parameters), \
                f"{cls.__name__}.{name} takes other parameters than the protocol"


async def test_postings_round_trip_by_number_and_by_order(store):
    a, b, other = row("11111111-0001-1"), row("11111111-0001-2", status="cancelled"), row("22222222-0002-1")
    assert await store.commit([a, b, other], []) == []
    got = await store.get(["11111111-0001-1", "nope", "22222222-0002-1"])
    assert set(got) == {"11111111-0001-1", "22222222-0002-1"}
    assert got["11111111-0001-1"] == a
    assert [r.order.posting_number for r in await store.by_order("11111111-0001")] == ["11111111-0001-1",
                                                                                         "11111111-0001-2"]
    assert (await store.by_order("11111111-0001"))[1].order.status == "cancelled"
    assert await store.count() == 3


async def test_commit_replaces_a_posting(store):
    await store.commit([row(fetched_at=1.0)], [])
    await store.commit([row(fetched_at=2.0, state_at=9.0, status="delivered")], [])
    got = (await store.get(["12345678-0001-1"]))["12345678-0001-1"]
    assert (got.fetched_at, got.state_at, got.order.status) == (2.0, 9.0, "delivered")
    assert await store.count() == 1


async def test_a_change_is_stored_once_per_key_and_delivered_once(store):
    r = row()
    first = await store.commit([r], [change(r), change(r, ChangeKind.NEW, "")])
    assert [c.kind for c in first] == [ChangeKind.STATUS, ChangeKind.NEW]
    again = await store.commit([r], [change(r), change(r, ChangeKind.STATUS, "delivered")])
    assert [c.detail for c in again] == ["delivered"], "a key seen before is not added again"
    pending = await store.pending_changes()
    assert [(p.change.kind, p.change.detail) for p in pending] == [
        (ChangeKind.STATUS, "delivering"), (ChangeKind.NEW, ""), (ChangeKind.STATUS, "delivered")]
    assert pending[0].change.order == r.order and pending[0].change.at == NOW and pending[0].change.source == "sync"
    await store.changes_delivered([pending[0].id, pending[1].id])
    assert [p.change.detail for p in await store.pending_changes()] == ["delivered"]
    assert len(await store.pending_changes(limit=0)) == 0


async def test_overdue_finds_late_shipments_and_deliveries_only(store):
    late_ship = row("1-0001-1", status="awaiting_packaging", shipment_date=NOW - timedelta(hours=1))
    on_time = row("1-0002-1", status="awaiting_packaging", shipment_date=NOW + timedelta(hours=1))
    late_delivery = row("1-0003-1", status="delivering", delivery_date_end=NOW - timedelta(days=1))
    delivered = row("1-0004-1", status="delivered", delivery_date_end=NOW - timedelta(days=1))
    shipped = row("1-0005-1", status="delivering", shipment_date=NOW - timedelta(days=3),
                  delivery_date_end=NOW + timedelta(days=1))
    await store.commit([late_ship, on_time, late_delivery, delivered, shipped], [])
    assert [r.order.posting_number for r in await store.overdue(NOW)] == ["1-0001-1", "1-0003-1"]


async def test_product_names_of_recent_postings(store):
    old = row("1-0001-1", created_at=NOW - timedelta(days=60))
    await store.commit([old, row("1-0002-1", created_at=NOW - timedelta(days=1))], [])
    assert await store.product_names(NOW - timedelta(days=30)) == ["Чайник"]
    assert await store.product_names(NOW - timedelta(days=90)) == ["Чайник"]
    assert await store.product_names(NOW) == []


async def test_marks(store):
    assert await store.get_mark("fbs_changed") is None
    await store.set_mark("fbs_changed", "2026-11-20T09:00:00+00:00")
    await store.set_mark("fbs_changed", "2026-11-20T09:01:00+00:00")
    assert await store.get_mark("fbs_changed") == "2026-11-20T09:01:00+00:00"


async def test_pushes_are_kept_once_in_order_until_done(store):
    first = await store.put_push("k1", "TYPE_STATE_CHANGED", '{"a": 1}', 10.0)
    second = await store.put_push("k2", "TYPE_NEW_MESSAGE", '{"b": 2}', 11.0)
    assert first is not None and second is not None and second > first
    assert await store.put_push("k1", "TYPE_STATE_CHANGED", '{"a": 1}', 12.0) is None
    pending = await store.pending_pushes()
    assert [(p.key, p.message_type, p.payload, p.received_at, p.attempts) for p in pending] == [
        ("k1", "TYPE_STATE_CHANGED", '{"a": 1}', 10.0, 0), ("k2", "TYPE_NEW_MESSAGE", '{"b": 2}', 11.0, 0)]
    await store.push_retry([second])
    await store.pushes_done([first], 20.0)
    assert [(p.key, p.attempts) for p in await store.pending_pushes()] == [("k2", 1)]
    assert await store.put_push("k1", "TYPE_STATE_CHANGED", '{"a": 1}', 21.0) is None, "done, still a repeat"
    assert await store.purge_pushes(15.0) == 0
    assert await store.purge_pushes(25.0) == 1
    assert [p.key for p in await store.pending_pushes()] == ["k2"], "pending pushes are never purged"


def at(r: MirrorRow, kind: ChangeKind, detail: str, when: float) -> PostingChange:
    return PostingChange(r.order.posting_number, kind, detail, datetime.fromtimestamp(when, UTC), r.order, "sync")


async def test_retention_forgets_old_final_postings_with_their_delivered_changes(store):
    cut = 1000.0
    delivered = row("1-0001-1", state_at=cut - 1, status="delivered", substatus="posting_received")
    cancelled = row("1-0002-1", state_at=10.0, status="cancelled")
    split = row("1-0003-1", state_at=10.0, status="cancelled_from_split_pending")
    await store.commit([delivered, cancelled, split], [at(delivered, ChangeKind.STATUS, "delivered", cut - 1),
                                                       at(cancelled, ChangeKind.CANCELLED, "", 5.0)])
    await store.changes_delivered([p.id for p in await store.pending_changes()])
    assert await store.purge_postings(cut) == {"mirror_postings": 3, "mirror_changes": 2}
    assert await store.count() == 0 and await store.by_order("1-0001") == []
    again = await store.commit([delivered], [at(delivered, ChangeKind.STATUS, "delivered", cut - 1)])
    assert len(again) == 1, "the keys of a forgotten posting's changes went with it"
    assert await store.purge_postings(cut) == {"mirror_postings": 0, "mirror_changes": 0}, "a pending change stays"


async def test_retention_keeps_open_recent_and_busy_postings(store):
    cut = 1000.0
    stuck = row("2-0001-1", state_at=1.0, status="delivering")  # however old: not final
    disputed = row("2-0002-1", state_at=1.0, status="client_arbitration")
    packing = row("2-0003-1", state_at=1.0, status="awaiting_packaging")
    recent = row("2-0004-1", state_at=cut, status="delivered")  # its last change is not before the cut
    pending = row("2-0005-1", state_at=1.0, status="delivered")  # a change not yet delivered
    refunded = row("2-0006-1", state_at=1.0, status="delivered")  # a change (a refund) inside the window
    gone = row("2-0007-1", state_at=1.0, status="cancelled")
    await store.commit([stuck, disputed, packing, recent, pending, refunded, gone],
                       [at(stuck, ChangeKind.STATUS, "delivering", 1.0), at(refunded, ChangeKind.REFUND, "7", cut + 5),
                        at(gone, ChangeKind.CANCELLED, "", 1.0)])
    await store.changes_delivered([p.id for p in await store.pending_changes()])
    [late] = await store.commit([], [at(pending, ChangeKind.STATUS, "delivered", 1.0)])
    assert await store.purge_postings(cut) == {"mirror_postings": 1, "mirror_changes": 1}
    assert sorted(await store.get([r.order.posting_number for r in (stuck, disputed, packing, recent, pending,
                                                                     refunded, gone)])) == [
        "2-0001-1", "2-0002-1", "2-0003-1", "2-0004-1", "2-0005-1", "2-0006-1"]
    assert [p.change.key for p in await store.pending_changes()] == [late.key], "undelivered changes stay"
    assert await store.commit([], [at(stuck, ChangeKind.STATUS, "delivering", 1.0),
                                   at(refunded, ChangeKind.REFUND, "7", cut + 5)]) == [], "kept keys still dedupe"


async def test_retention_deletes_in_batches(store):
    old = [row(f"3-{i:04d}-1", state_at=float(i), status="delivered") for i in range(7)]
    await store.commit(old, [at(r, ChangeKind.STATUS, "delivered", 1.0) for r in old])
    await store.changes_delivered([p.id for p in await store.pending_changes()])
    assert await store.purge_postings(100.0, batch=3) == {"mirror_postings": 7, "mirror_changes": 7}
    assert await store.count() == 0
