"""Buyer flows over real Telegram HTTP (fake Bot API), in Chinese and Russian."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import App
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, Bot, bot, fake, label, new_app, running_bot  # noqa: F401

LANGS = [("zh", "zh-hans"), ("ru", "ru")]


def need_flow(app: App, flow_id: str) -> None:
    if flow_id not in app.registry.current.flows:
        pytest.skip(f"flow {flow_id} is not in this tree yet")


@pytest.mark.parametrize("lang,code", LANGS)
async def test_menu_greeting_with_buttons(bot: Bot, app: App, lang: str, code: str):
    async def go():
        buyer = bot.buyer(100, code)
        await buyer.send("/start")
        assert buyer.text == label(app, "menu.greeting", lang)
        assert label(app, "menu.order_status", lang) in buyer.labels
        assert label(app, "menu.talk_to_agent", lang) in buyer.labels
        assert buyer.last[-1].params["parse_mode"] == "HTML"
        await buyer.send("/menu")
        assert buyer.text == label(app, "menu.greeting", lang)
    await asyncio.wait_for(go(), TIMEOUT)


@pytest.mark.parametrize("lang,code", LANGS)
async def test_order_status_with_phone_check(bot: Bot, app: App, demo_order, lang: str, code: str):
    order = demo_order["packaging_on_time"]

    async def go():
        buyer = bot.buyer(101, code)
        await buyer.send("/start")
        await buyer.press(label(app, "menu.order_status", lang))
        await buyer.send(order.order_number)
        assert order.posting_number not in buyer.text  # not proven yet
        wrong = "0000" if order.phone_last4 != "0000" else "1111"
        await buyer.send(wrong)
        assert order.posting_number not in buyer.text
        await buyer.send(order.phone_last4)
        assert order.posting_number in buyer.text
        state = await buyer.state()
        assert state is not None and state.lang == lang and order.order_number in state.verified
    await asyncio.wait_for(go(), TIMEOUT)


async def test_order_command_with_number(bot: Bot, demo_order):
    order = demo_order["delivering_on_time"]

    async def go():
        buyer = bot.buyer(102, "ru")
        await buyer.send(f"/order {order.order_number}")
        await buyer.send(order.phone_last4)
        assert order.posting_number in buyer.text
    await asyncio.wait_for(go(), TIMEOUT)


@pytest.mark.parametrize("lang,code", LANGS)
async def test_talk_to_agent_starts_handoff(bot: Bot, app: App, lang: str, code: str):
    async def go():
        buyer = bot.buyer(103, code)
        await buyer.send("/start")
        await buyer.press(label(app, "menu.talk_to_agent", lang))
        assert buyer.text.startswith(label(app, "agent.connecting", lang)[:10])
        starts = [c for c in bot.handoff.calls if c[0] == "start"]
        assert starts and starts[0][1][0] == "103" and starts[0][1][1] == "buyer_request"
        assert starts[0][1][2].lang == lang  # the saved state, after the turn
        # an agent now owns the conversation: the bot is silent and relays
        bot.handoff.active.add("103")
        sent_before = len(bot.fake.sent(103))
        await buyer.send("Где мой заказ?")
        assert len(bot.fake.sent(103)) == sent_before
        assert ("relay", ("103", "Где мой заказ?")) in bot.handoff.calls
        transcript = await app.store.transcript("103")
        assert transcript[-1].direction == "in" and transcript[-1].text == "Где мой заказ?"
        # /bot leaves the queue and the bot answers again
        await buyer.send("/bot")
        assert ("left", "103") in bot.handoff.calls
        assert buyer.last
    await asyncio.wait_for(go(), TIMEOUT)


async def test_agents_group_updates_never_reach_the_buyer_conversation(fake: FakeTelegram, app: App, settings):
    settings.agents_chat_id = -100777

    async def go():
        async with running_bot(fake, app, settings) as b:
            fake.message(-100777, text="hello from an agent")
            await b.buyer(4711).send("/start")  # handled after the group's update (one getUpdates batch order)
            assert fake.sent(-100777) == []
            assert await app.store.load_state("-100777") is None
            assert b.handoff.calls == []
    await asyncio.wait_for(go(), TIMEOUT * 2)


@pytest.mark.parametrize("lang,code", LANGS)
async def test_cancel_flow(bot: Bot, app: App, demo_order, lang: str, code: str):
    need_flow(app, "cancel_order")
    order = demo_order["packaging_on_time"]

    async def go():
        buyer = bot.buyer(104, code)
        await buyer.send("/start")
        await buyer.press(label(app, "menu.cancel", lang))
        await buyer.send(order.order_number)
        await buyer.send(order.phone_last4)
        assert buyer.last, "the cancel flow answered"
        state = await buyer.state()
        assert any(step.startswith("cancel_order:") for step in state.path)
    await asyncio.wait_for(go(), TIMEOUT)


@pytest.mark.parametrize("lang,code", LANGS)
async def test_return_with_a_photo(bot: Bot, app: App, demo_order, lang: str, code: str):
    need_flow(app, "request_return")
    order = demo_order["delivered_received"]

    async def go():
        buyer = bot.buyer(105, code)
        await buyer.send("/start")
        await buyer.press(label(app, "menu.return", lang))
        await buyer.send(order.order_number)
        await buyer.send(order.phone_last4)
        await buyer.press(label(app, "request_return.reason_damaged", lang))
        assert label(app, "request_return.ask_evidence", lang)[:12] in buyer.text
        await buyer.photo("big-photo-id", size=300_000)
        state = await buyer.state()
        assert state.vars["evidence"][0]["file_id"] == "big-photo-id"  # the largest size
        assert state.vars["evidence"][0]["kind"] == "photo"
        assert label(app, "request_return.evidence_received", lang)[:12] in buyer.text
    await asyncio.wait_for(go(), TIMEOUT)


async def test_photo_when_not_expected_and_sticker(bot: Bot, app: App):
    async def go():
        buyer = bot.buyer(106, "zh-hans")
        await buyer.send("/start")
        await buyer.sticker()
        assert buyer.text == label(app, "common.media_not_expected", "zh")
        state = await buyer.state()
        assert state.at is not None and state.at.node == "menu"  # the flow is intact
        await buyer.photo()
        assert label(app, "common.media_not_expected", "zh") in buyer.text
        await buyer.press(label(app, "menu.order_status", "zh"))  # the menu's buttons still work
        assert buyer.text == app.renderer.text("lookup.ask_number", "zh")
    await asyncio.wait_for(go(), TIMEOUT)


async def test_history_is_a_document(bot: Bot, fake: FakeTelegram, app: App):
    async def go():
        buyer = bot.buyer(107, "ru")
        await buyer.send("/start")
        uid = fake.command(107, "history")
        await bot.processed(uid)
        docs = fake.calls_of("sendDocument", 107)
        assert len(docs) == 1
        content = next(iter(docs[0].files.values())).decode()
        assert "/start" in content and label(app, "menu.greeting", "ru") in content
    await asyncio.wait_for(go(), TIMEOUT)


async def test_restart_mid_flow_continues(fake: FakeTelegram, app: App, settings, catalogs, clock, demo_order):
    order = demo_order["packaging_on_time"]

    async def go():
        async with running_bot(fake, app, settings) as first:
            buyer = first.buyer(108, "ru")
            await buyer.send(f"/order {order.order_number}")
            assert label(app, "lookup.ask_phone", "ru")[:20] in buyer.text
        second_app = new_app(settings, catalogs, clock)  # a new process on the same SQLite file
        try:
            async with running_bot(fake, second_app, settings) as second:
                buyer = second.buyer(108, "ru")
                await buyer.send(order.phone_last4)
                assert order.posting_number in buyer.text
        finally:
            await second_app.close()
    await asyncio.wait_for(go(), TIMEOUT * 2)
