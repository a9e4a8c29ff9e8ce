"""Buyers' order news end to end: the buyer proves an order over the real PTB and a fake Bot API,
asks for news, and the mirror's ChangeSink (`app.notifier`) is called with repeats and reordered
changes. Exactly one message per (posting, event) per buyer, never backwards, in each buyer's
language; /stop ends it; a buyer who blocked the bot has the watch ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import App
from bot.notify.records import SENT
from bot.notify.sender import Limits, Sender
from bot.notify.wiring import ProactiveMessages
from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.model import Cancellation, Initiator, Order
from bot.settings import Settings
from tests.conftest import NOW
from tests.fake_limited import LimitedTelegram
from tests.test_telegram_harness import TIMEOUT, Bot, TgBuyer, label, running_bot

FAST = Limits(per_second=25, chat_seconds=1.05)


@pytest.fixture
async def limited() -> AsyncIterator[LimitedTelegram]:
    # Per-chat pacing is tested in test_notify_sender.py; here the bot's interactive replies (not paced:
    # Telegram allows short bursts in a chat) share the chats with the proactive messages.
    async with LimitedTelegram(per_second=30, chat_seconds=0.0) as f:
        yield f
    assert f.unexpected == [], f"unexpected Bot API calls: {[c.method for c in f.unexpected]}"


@pytest.fixture
async def live(limited: LimitedTelegram, app: App, settings: Settings) -> AsyncIterator[tuple[Bot, Sender]]:
    async with running_bot(limited, app, settings) as bot:
        notify = ProactiveMessages(app, bot.application.bot, settings, limits=FAST)
        await notify.start()
        try:
            yield bot, notify.sender
        finally:
            await notify.stop()


def change(order: Order, kind: ChangeKind, detail: str = "", *, hours: float = 0.0, **update) -> PostingChange:
    moved = order.model_copy(update=update) if update else order
    return PostingChange(order.posting_number, kind, detail, NOW + timedelta(hours=hours), moved, "push")


async def watch(buyer: TgBuyer, app: App, order: Order, lang: str) -> None:
    await buyer.send(f"/order {order.order_number}")
    await buyer.send(order.phone_last4 or "")
    assert order.posting_number in buyer.text
    await buyer.press(label(app, "notify.btn_watch", lang))
    assert buyer.text == app.text("notify.watching", lang, {"posting": order.posting_number})


def news(fake: LimitedTelegram, chat: int, since: int) -> list[str]:
    return fake.delivered[chat][since:]


async def test_one_message_per_event_per_buyer_whatever_the_repeats_and_order(live, app: App, demo_order,
                                                                               limited: LimitedTelegram):
    bot, sender = live
    order: Order = demo_order["delivering_on_time"]

    async def go():
        ru, zh = bot.buyer(201, "ru"), bot.buyer(202, "zh-hans")
        await watch(ru, app, order, "ru")
        await watch(zh, app, order, "zh")
        seen_ru, seen_zh = len(limited.delivered[201]), len(limited.delivered[202])

        late = change(order, ChangeKind.DELIVERY_LATE, delivery_date_end=NOW - timedelta(days=2, hours=1))
        await app.notifier([late, late])
        await app.notifier([late])  # the same push again
        pickup_deadline = NOW + timedelta(days=5, hours=2)
        at_pickup = change(order, ChangeKind.AT_PICKUP_POINT, pickup_deadline.isoformat(), hours=2,
                           substatus="posting_in_pickup_point")
        delivered = change(order, ChangeKind.STATUS, "delivered", hours=30, status="delivered",
                           substatus="posting_delivered")
        await app.notifier([delivered, at_pickup])  # reordered within one call: told in order
        await app.notifier([change(order, ChangeKind.STATUS, "delivering", hours=1)])  # older: never backwards
        await app.notifier([at_pickup, delivered])  # replays
        await asyncio.wait_for(sender.idle(), TIMEOUT)

        got = news(limited, 201, seen_ru)
        assert len(got) == 3, got
        assert "задерживается уже на 2 дня" in got[0] and "Простите" in got[0]
        assert "пункте выдачи" in got[1] and "осталось 5 дней" in got[1]
        assert "доставлен" in got[2]
        zh_got = news(limited, 202, seen_zh)
        assert len(zh_got) == 3 and "已延迟 2 天" in zh_got[0] and "自提点" in zh_got[1] and "已送达" in zh_got[2]
        assert sender.figures.flood_waits == 0
        # each message once in the outbox, keyed by buyer and event
        keys = [o.key for o in await app.notify.outbox() if o.status == SENT]
        assert len(keys) == len(set(keys)) == 6

        # the late message's buttons open existing flows on this order
        calls = [c for c in limited.sent(201) if c.params["text"] == got[0]]
        buttons = [b for row in calls[0].params["reply_markup"]["inline_keyboard"] for b in row]
        assert [b["callback_data"] for b in buttons] == [f"k|late|{order.posting_number}", "k|agent|", "k|stop|"]
        ru.markup_call = calls[0]
        await ru.press(label(app, "notify.btn_options", "ru"))
        state = await ru.state()
        assert state is not None and any(p.startswith("overdue_order:") for p in state.path), state.path
        # the flow reads the order afresh (the demo shop's copy is on time), with no proof asked again
        assert app.text("overdue_order.not_late", "ru", {"posting": order.posting_number}) in ru.text
    await asyncio.wait_for(go(), TIMEOUT * 3)


async def test_cancellation_with_its_reason_then_stop(live, app: App, demo_order, limited: LimitedTelegram):
    bot, sender = live
    order: Order = demo_order["packaging_on_time"]

    async def go():
        buyer = bot.buyer(203, "ru")
        await watch(buyer, app, order, "ru")
        before = len(limited.delivered[203])
        cancelled = change(order, ChangeKind.CANCELLED, "352", hours=1, status="cancelled",
                           cancellation=Cancellation(reason_id=352, reason="Нет в наличии", initiator=Initiator.SELLER))
        await app.notifier([cancelled])
        await asyncio.wait_for(sender.idle(), TIMEOUT)
        [text] = news(limited, 203, before)
        reason = app.text("cancel_reason.352", "ru")  # the why_cancelled flow's own reason text
        assert text == app.text("notify.cancelled", "ru", {"posting": order.posting_number, "reason": reason})
        await app.notifier([change(order, ChangeKind.STATUS, "awaiting_deliver", hours=0.5,
                                   status="awaiting_deliver")])  # older than the cancellation: nothing
        await buyer.send("/stop")
        assert buyer.text == app.text("notify.stopped", "ru", {"count": 1}, 1)
        assert "1 заказе" in buyer.text
        await app.notifier([change(order, ChangeKind.REFUND, "1", hours=50, status="cancelled")])
        await asyncio.wait_for(sender.idle(), TIMEOUT)
        assert [o.payload["text"] for o in await app.notify.outbox(203)] == [text], "nothing after /stop"
        await buyer.send("/stop")
        assert buyer.text == app.text("notify.nothing_to_stop", "ru")
    await asyncio.wait_for(go(), TIMEOUT * 2)


async def test_a_watch_needs_the_proof(live, app: App, demo_order):
    bot, _ = live
    order: Order = demo_order["delivering_on_time"]

    async def go():
        buyer = bot.buyer(205, "ru")
        await buyer.send("/start")
        # a forged press of the order flow's watch option without having proved the order
        await buyer.send(f"/order {order.order_number}")
        state = await buyer.state()
        assert state is not None and order.order_number not in state.verified
        from bot.engine.effects import Action
        out = await app.actions.run("205", Action("watch_order", {"posting": order.posting_number}), "ru", state)
        assert [o.text for o in out] == [app.text("notify.watch_failed", "ru")]
        assert await app.notify.watches("205") == []
    await asyncio.wait_for(go(), TIMEOUT)


async def test_a_buyer_who_blocked_the_bot_is_no_longer_watched(live, app: App, demo_order,
                                                                 limited: LimitedTelegram):
    bot, sender = live
    order: Order = demo_order["delivering_on_time"]

    async def go():
        buyer = bot.buyer(204, "ru")
        await watch(buyer, app, order, "ru")
        assert [w.chat_id for w in await app.notify.watches("204")] == ["204"]
        limited.blocked.add(204)
        await app.notifier([change(order, ChangeKind.STATUS, "delivered", hours=3, status="delivered")])
        await asyncio.wait_for(sender.idle(), TIMEOUT)
        assert await app.notify.watches("204") == []
        assert sender.figures.blocked == 1
    await asyncio.wait_for(go(), TIMEOUT)
