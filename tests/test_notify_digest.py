"""The agents' digest: what it lists from the demo shop (seeds 002 and 003), once per interval, none
when nothing is at risk; sent through the paced sender to the agents' forum group (fake_forum),
where its buttons open the order card."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import SecretStr

from bot.app import App
from bot.handoff.card import AgentTexts
from bot.i18n.render import buyer_timezone
from bot.notify.digest import CARD_PREFIX, Digest, OrdersAtRisk, compose, section_of
from bot.notify.records_memory import MemoryNotifyRecords
from bot.notify.sender import Limits
from bot.notify.wiring import ProactiveMessages
from bot.orders.demo_data import demo_orders
from bot.orders.model import Order
from bot.settings import Settings
from tests.conftest import NOW, FixedClock
from tests.fake_forum import FakeForum
from tests.fake_telegram import TOKEN

HORIZON = timedelta(hours=12)


def _orders() -> dict[str, Order]:
    return {key: order for key, _, order in demo_orders(NOW)}


def test_sections_follow_the_seeds() -> None:
    o = _orders()
    assert section_of(o["registration_error"], NOW, HORIZON) == "registration"  # seed 002: no label
    assert section_of(o["packaging_seller_late"], NOW, HORIZON) == "shipment_late"  # seed 003
    assert section_of(o["awaiting_deliver_late"], NOW, HORIZON) == "shipment_late"
    assert section_of(o["delivering_late"], NOW, HORIZON) == "delivery_late"
    assert section_of(o["packaging_on_time"], NOW, HORIZON) is None, "its cutoff is 2 days away"
    assert section_of(o["packaging_on_time"], NOW, timedelta(days=3)) == "near_cutoff"
    assert section_of(o["registration_on_time"], NOW, HORIZON) is None, "registration only 5 hours old"
    assert section_of(o["delivering_on_time"], NOW, HORIZON) is None
    assert section_of(o["awaiting_deliver_on_time"], NOW, HORIZON) is None, "packed: not 'near cutoff, not packed'"


def test_digest_text_in_the_agents_language_with_the_diagnosis(app: App) -> None:
    o = _orders()
    for lang in ("zh", "ru"):
        texts = AgentTexts(app.renderer, lang, buyer_timezone())
        d = compose(list(o.values()), texts, NOW, timedelta(days=3))
        assert d is not None
        t = texts.t
        for section in ("registration", "shipment_late", "near_cutoff", "delivery_late"):
            assert t(f"notify.digest.{section}", count=0).split(":")[0].split("：")[0] in d.text
        # seed 002: the registration problem carries the /diagnose text
        assert t("agent_card.diag.registration_error") in d.text
        assert o["registration_error"].posting_number in d.text and o["delivering_late"].posting_number in d.text
        assert o["delivering_on_time"].posting_number not in d.text
        assert len(d.text) <= 4096
        datas = [b[1] for row in d.buttons for b in row]
        assert CARD_PREFIX + o["registration_error"].posting_number in datas
        assert all(len(x.encode()) <= 64 for x in datas)
    ru = compose([o["delivering_late"]], AgentTexts(app.renderer, "ru", buyer_timezone()), NOW, HORIZON)
    assert ru is not None and "опоздание 3 дня" in ru.text
    assert compose([o["delivering_on_time"], o["packaging_on_time"]], AgentTexts(app.renderer, "ru"), NOW,
                   HORIZON) is None


async def test_one_digest_per_interval_none_when_nothing_at_risk(app: App) -> None:
    clock = FixedClock(NOW)
    records = MemoryNotifyRecords()
    o = _orders()
    shop = [o["registration_error"], o["delivering_on_time"]]
    woken = []
    digest = Digest(OrdersAtRisk(lambda: shop), records, AgentTexts(app.renderer, "zh"), -100, minutes=30,
                    clock=clock, wake=lambda: woken.append(1))
    assert await digest.tick()
    assert not await digest.tick(), "the same interval: nothing more"
    clock.current = NOW + timedelta(minutes=29)
    if digest.slot(clock.current) == digest.slot(NOW):
        assert not await digest.tick()
    clock.current = NOW + timedelta(minutes=31)
    assert await digest.tick(), "the next interval: a new digest"
    # a restart within the interval (a new Digest, same records): not queued twice
    again = Digest(OrdersAtRisk(lambda: shop), records, AgentTexts(app.renderer, "zh"), -100, minutes=30,
                   clock=clock)
    assert not await again.tick()
    shop[:] = [o["delivering_on_time"]]
    clock.current = NOW + timedelta(minutes=61)
    assert not await digest.tick(), "nothing at risk: no message"
    assert len(await records.outbox(-100)) == 2 and len(woken) == 2


async def test_digest_reaches_the_group_and_its_button_opens_the_order_card(app: App, settings: Settings) -> None:
    async with FakeForum() as forum:
        settings.telegram_bot_token = SecretStr(TOKEN)
        settings.telegram_api_base = forum.api_base
        settings.agents_chat_id = forum.group_id
        settings.agents_lang = "ru"
        settings.agent_digest_minutes = 60
        from telegram.ext import ApplicationBuilder

        application = ApplicationBuilder().token(TOKEN).base_url(forum.api_base).updater(None).build()
        await application.initialize()
        clock = FixedClock(NOW)
        notify = ProactiveMessages(app, application.bot, settings, clock=clock,
                                   limits=Limits(per_second=25, group_per_minute=19))
        notify.install(application)
        assert notify.digest is not None
        await notify.start()
        try:
            await forum.wait_for(lambda: forum.calls_of("sendMessage", forum.group_id), timeout=10)
            [call] = forum.calls_of("sendMessage", forum.group_id)
            assert call.params["parse_mode"] == "HTML"
            assert "Отправления под риском" in call.params["text"]
            posting = _orders()["registration_error"].posting_number
            assert posting in call.params["text"]
            data = CARD_PREFIX + posting
            assert any(b["callback_data"] == data for row in call.params["reply_markup"]["inline_keyboard"]
                       for b in row)
            # an agent presses the order button under the digest
            from telegram import Update

            update = Update.de_json({"update_id": 1, "callback_query": {
                "id": "q1", "chat_instance": "c", "data": data,
                "from": {"id": 7, "is_bot": False, "first_name": "Agent"},
                "message": {"message_id": call.done_at and 1000, "date": 0,
                            "chat": {"id": forum.group_id, "type": "supergroup"}}}}, application.bot)
            await application.process_update(update)
            await forum.wait_for(lambda: len(forum.calls_of("sendMessage", forum.group_id)) >= 2, timeout=5)
            card = forum.calls_of("sendMessage", forum.group_id)[1].params["text"]
            assert posting in card and app.text("agent_card.order_title", "ru") in card
            await asyncio.sleep(0)
        finally:
            await notify.stop()
            await application.shutdown()


async def test_retention_forgets_old_proactive_messages_only(app: App, settings: Settings) -> None:
    from telegram import Bot

    settings.retention_transcript_days = 1
    notify = ProactiveMessages(app, Bot(TOKEN), settings)
    now = NOW.timestamp()
    old = await app.notify.enqueue("old", 5, {"text": "old"}, now - 2 * 86400)
    waiting = await app.notify.enqueue("waiting", 5, {"text": "waiting"}, now - 2 * 86400)
    fresh = await app.notify.enqueue("fresh", 5, {"text": "fresh"}, now - 3600)
    assert old and waiting and fresh
    for oid in (old, fresh):
        await app.notify.claim(oid)
        await app.notify.mark_sent(oid, 1, now)
    [purge] = notify.purgers()
    assert await purge(now) == {"notify_outbox": 1}
    assert [o.key for o in await app.notify.outbox()] == ["waiting", "fresh"], "a pending one is never purged"
    settings.retention_transcript_days = 0
    assert ProactiveMessages(app, Bot(TOKEN), settings).purgers() == []
