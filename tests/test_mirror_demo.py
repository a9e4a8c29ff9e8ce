"""The demo shop's live postings move through their statuses on the clock, so the mirror's sync,
changes and deadlines run with no Seller API token; the seeded demo orders stay as they are."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.orders.changes import ChangeKind
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.mirror.demo_source import SCRIPTS, DemoSource
from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.store import MemoryMirrorStore
from bot.orders.numbers import OrderRef
from tests.test_mirror import Sink

STEP = 60.0


async def test_live_postings_move_and_each_move_is_one_change(tmp_path):
    seed(tmp_path / "orders.db", datetime.now(UTC))
    start = (datetime.now(UTC).timestamp() // (STEP * 5) + 1) * STEP * 5  # a cycle boundary
    clock = [start + 0.8 * STEP]  # the four are 15 s apart: all in their first stage
    source = DemoSource(DemoOrderProvider(tmp_path / "orders.db"), step=STEP, clock=lambda: clock[0])
    sink = Sink()
    mirror = Mirror(MemoryMirrorStore(), source, sinks=[sink], clock=lambda: clock[0])
    first = await mirror.sync()
    assert first.mode == "baseline" and first.read >= 54 + len(SCRIPTS)
    live = {o.posting_number: o for o in source.live()}
    assert {o.status for o in live.values()} == {"awaiting_packaging"}

    for _ in range(4):  # one step at a time through the whole cycle
        clock[0] += STEP
        await mirror.sync()
    kinds = {(c.posting_number, c.kind.value, c.detail) for c in sink.changes}
    on_time, ship_late, delivery_late, cancelled = live
    assert [(k, d) for n, k, d in sorted(kinds) if n == on_time] == [
        ("at_pickup_point", ""), ("status", "awaiting_deliver"), ("status", "delivered"), ("status", "delivering")]
    assert {k for n, k, _ in kinds if n == ship_late} >= {"shipment_late", "status"}
    assert {k for n, k, _ in kinds if n == delivery_late} >= {"delivery_late", "at_pickup_point"}
    assert {(k, d) for n, k, d in kinds if n == cancelled} == {("cancelled", "506")}
    assert len(sink.changes) == len(kinds), "each change once"
    moved = (await mirror.find(OrderRef(on_time.rsplit("-", 1)[0], on_time)))[0]
    assert moved.status == "delivered"

    clock[0] += STEP  # a new cycle: new postings
    await mirror.sync()
    assert [c.kind for c in sink.changes[-len(SCRIPTS):]].count(ChangeKind.NEW) == len(SCRIPTS)
    seeded = await mirror.find(OrderRef("46208274-0014", "46208274-0014-1"))
    assert seeded[0].status == "awaiting_packaging", "the seeded scenarios do not move"
    await mirror.close()
