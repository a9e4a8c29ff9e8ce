"""The buyers' ChangeSink in isolation (memory records, the real catalogs): which changes are worth
a message, once per (posting, event) per buyer, never backwards."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from bot.notify.records_memory import MemoryNotifyRecords
from bot.notify.watching import BuyerNotifier
from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.demo_data import demo_orders
from bot.orders.model import Order
from tests.conftest import NOW, FixedClock


def _order(key: str) -> Order:
    return {k: o for k, _, o in demo_orders(NOW)}[key]


def _change(order: Order, kind: ChangeKind, detail: str = "", hours: float = 0, **update) -> PostingChange:
    return PostingChange(order.posting_number, kind, detail, NOW + timedelta(hours=hours),
                         order.model_copy(update=update) if update else order, "sync")


async def _notifier(app: App) -> tuple[BuyerNotifier, MemoryNotifyRecords, Order]:
    records = MemoryNotifyRecords()
    order = _order("packaging_seller_late")
    await records.watch("7", order.posting_number, order.order_number, "ru", 0.0)
    return BuyerNotifier(records, app.renderer, clock=FixedClock(NOW)), records, order


async def test_what_is_worth_a_message(app: App) -> None:
    notifier, records, order = await _notifier(app)
    await notifier([_change(order, ChangeKind.NEW), _change(order, ChangeKind.CUTOFF_DATE, "2026-11-21T10:00:00"),
                    _change(order, ChangeKind.STATUS, "awaiting_registration", status="awaiting_registration")])
    assert await records.outbox() == [], "the shop's business, not news for the buyer"
    await notifier([_change(order, ChangeKind.SHIPMENT_LATE, hours=1)])
    [late] = await records.outbox()
    assert "Простите" in late.payload["text"] and "мы не успели отправить" in late.payload["text"]
    assert [row[0][1] for row in late.payload["buttons"]] == [f"k|late|{order.posting_number}", "k|agent|", "k|stop|"]


async def test_late_once_per_posting_whatever_the_detail(app: App) -> None:
    notifier, records, order = await _notifier(app)
    await notifier([_change(order, ChangeKind.SHIPMENT_LATE, "2026-11-19T10:00:00", hours=1)])
    await notifier([_change(order, ChangeKind.SHIPMENT_LATE, "2026-11-19T10:00:00", hours=1)])
    await notifier([_change(order, ChangeKind.SHIPMENT_LATE, "", hours=2)])  # reported again, another way
    assert len(await records.outbox()) == 1


async def test_news_about_a_state_already_left_is_not_sent(app: App) -> None:
    notifier, records, order = await _notifier(app)
    shipped = _change(order, ChangeKind.STATUS, "delivering", hours=3, status="delivering")
    await notifier([shipped])
    await notifier([_change(order, ChangeKind.SHIPMENT_LATE, hours=1)])  # the late report arrives after it shipped
    assert [o.key.split("|")[1] for o in await records.outbox()] == ["status"]
    await notifier([_change(order, ChangeKind.STATUS, "awaiting_deliver", hours=2, status="awaiting_deliver")])
    assert len(await records.outbox()) == 1, "an older status never moves the buyer backwards"


async def test_each_buyer_in_their_language(app: App) -> None:
    notifier, records, order = await _notifier(app)
    await records.watch("8", order.posting_number, order.order_number, "zh", 0.0)
    await records.watch("console-1", order.posting_number, order.order_number, "zh", 0.0)
    await notifier([_change(order, ChangeKind.STATUS, "awaiting_deliver", hours=2, status="awaiting_deliver")])
    texts = {o.chat_id: o.payload["text"] for o in await records.outbox()}
    assert set(texts) == {7, 8}, "a conversation no Telegram chat can reach gets nothing queued"
    assert "собран" in texts[7] and "已打包" in texts[8]
