"""The order mirror (its demo shop's live postings, moving on a clock) feeding the buyers' ChangeSink
that `build_app` subscribes, and the agents' digest reading the mirror's deadlines (`MirrorAtRisk`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.app import build_app
from bot.notify.digest import MirrorAtRisk, section_of
from bot.notify.wiring import at_risk_source
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.mirror.demo_source import SCRIPTS, DemoSource
from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.store import MemoryMirrorStore
from bot.store.sqlite import SqliteStore

STEP = 60.0


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)


async def test_mirror_changes_reach_watching_buyers_once_each_and_the_digest(tmp_path, settings, catalogs):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seed(settings.demo_orders_path, datetime.now(UTC))
    start = (datetime.now(UTC).timestamp() // (STEP * 5) + 1) * STEP * 5
    clock = Clock(start + 0.8 * STEP)
    source = DemoSource(DemoOrderProvider(settings.demo_orders_path), step=STEP, clock=lambda: clock.at)
    mirror = Mirror(MemoryMirrorStore(), source, clock=lambda: clock.at)
    app = build_app(settings, catalogs=catalogs, orders=mirror, store=SqliteStore(settings.store_path), clock=clock)
    assert app.notifier in mirror.sinks, "build_app subscribes the buyers' sink to the mirror"
    assert isinstance(at_risk_source(mirror), MirrorAtRisk)
    await mirror.sync()
    on_time, ship_late, delivery_late, cancelled = (o.posting_number for o in source.live())
    for posting in (on_time, ship_late, delivery_late, cancelled):
        await app.notify.watch("301", posting, posting.rsplit("-", 1)[0], "ru", clock.at)
    await app.notify.watch("302", ship_late, ship_late.rsplit("-", 1)[0], "zh", clock.at)

    risky: dict[str, set[str]] = {}
    for _ in range(4):
        clock.at += STEP
        await mirror.sync()
        await mirror.sync()  # the same postings again: no new change, no new message
        now = clock.now()
        for order in await MirrorAtRisk(mirror.store).postings_at_risk(now, timedelta(hours=12)):
            risky.setdefault(order.posting_number, set()).add(str(section_of(order, now, timedelta(hours=12))))

    outbox = await app.notify.outbox()
    assert len({o.key for o in outbox}) == len(outbox)
    texts = Counter(o.payload["text"] for o in outbox)
    assert max(texts.values()) == 1, "no message twice"

    def said(chat: int, posting: str) -> list[str]:
        return [o.payload["text"] for o in outbox if o.chat_id == chat and posting in o.payload["text"]]

    on = said(301, on_time)
    assert [("собран" in t, "в пути" in t, "пункте выдачи" in t, "доставлен" in t) for t in on] == [
        (True, False, False, False), (False, True, False, False), (False, False, True, False),
        (False, False, False, True)], on
    assert any("не успели отправить" in t for t in said(301, ship_late))
    assert any("非常抱歉" in t for t in said(302, ship_late)), "the other buyer, in Chinese"
    assert any("задерживается" in t for t in said(301, delivery_late))
    [cancel] = said(301, cancelled)
    assert app.text("cancel_reason.506", "ru") in cancel
    assert "shipment_late" in risky.get(ship_late, set()) and "delivery_late" in risky.get(delivery_late, set())
    assert len(SCRIPTS) == 4
    await app.close()
