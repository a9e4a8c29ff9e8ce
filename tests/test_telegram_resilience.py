"""Telegram failures, stale buttons, injected exceptions and ordering under concurrency."""

from __future__ import annotations

import asyncio
import random
import time

from bot.app import App
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, Bot, bot, fake, label  # noqa: F401


async def delivered(app: App, chat: str) -> list[bool | None]:
    return [e.delivered for e in await app.store.transcript(chat) if e.direction == "out"]


async def test_429_retry_after_is_honoured(bot: Bot, fake: FakeTelegram, app: App):
    async def go():
        fake.fail("sendMessage", 429, retry_after=1)
        buyer = bot.buyer(200, "ru")
        started = time.monotonic()
        await buyer.send("/start")
        assert time.monotonic() - started >= 1.0
        assert buyer.text == label(app, "menu.greeting", "ru")
        failed = [c for c in fake.calls if c.method == "sendMessage" and c.status == 429]
        assert len(failed) == 1
        assert await delivered(app, "200") == [True]
    await asyncio.wait_for(go(), TIMEOUT)


async def test_blocked_buyer_is_recorded_not_retried(bot: Bot, fake: FakeTelegram, app: App):
    async def go():
        fake.fail("sendMessage", 403, times=5)
        buyer = bot.buyer(201, "ru")
        await buyer.send("/start")
        attempts = [c for c in fake.calls if c.method == "sendMessage" and c.params.get("chat_id") == 201]
        assert len(attempts) == 1 and attempts[0].status == 403
        transcript = await app.store.transcript("201")
        assert transcript[0].direction == "in"  # stored before it was answered
        assert await delivered(app, "201") == [False]
        fake.failures.clear()
    await asyncio.wait_for(go(), TIMEOUT)


async def test_server_errors_are_retried_then_given_up(bot: Bot, fake: FakeTelegram, app: App):
    async def go():
        fake.fail("sendMessage", 500, times=2)
        buyer = bot.buyer(202, "ru")
        await buyer.send("/start")
        assert buyer.text == label(app, "menu.greeting", "ru")
        assert await delivered(app, "202") == [True]
        fake.fail("sendMessage", 502, times=10)  # more than the policy's attempts
        await buyer.send("/menu")
        assert buyer.last == []
        assert await delivered(app, "202") == [True, False]
        fake.failures.clear()
    await asyncio.wait_for(go(), TIMEOUT)


async def test_exception_in_handler_still_answers(bot: Bot, app: App, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    async def go():
        buyer = bot.buyer(203, "zh-hans")
        monkeypatch.setattr(app, "handle", broken)
        await buyer.send("/start")
        assert buyer.text == label(app, "system.internal_error", "zh")
        monkeypatch.undo()
        await buyer.send("/start")  # and the next update works again
        assert buyer.text == label(app, "menu.greeting", "zh")
    await asyncio.wait_for(go(), TIMEOUT)


async def test_stale_button_reshows_current_step(bot: Bot, fake: FakeTelegram, app: App):
    async def go():
        buyer = bot.buyer(204, "ru")
        await buyer.send("/start")
        menu = buyer.markup_call
        await buyer.press(label(app, "menu.order_status", "ru"))
        answered = len(fake.calls_of("answerCallbackQuery"))
        await buyer.press(label(app, "menu.language", "ru"), markup_call=menu)  # an old message's button
        assert len(fake.calls_of("answerCallbackQuery")) == answered + 1
        assert label(app, "common.stale_button", "ru") in buyer.text
        assert app.renderer.text("lookup.ask_number", "ru") in buyer.text
        state = await buyer.state()
        assert state.at.flow == "order_status"
        await buyer.press_data("garbage")  # undecodable data: also stale, also answered
        assert label(app, "common.stale_button", "ru") in buyer.text
        assert len(fake.calls_of("answerCallbackQuery")) == answered + 2
    await asyncio.wait_for(go(), TIMEOUT)


async def test_one_chat_in_order_many_chats_concurrently(bot: Bot, fake: FakeTelegram, app: App, monkeypatch):
    real = app.handle
    rng = random.Random(7)
    running = {"now": 0, "peak": 0}

    async def jittery(*args, **kwargs):
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(rng.random() * 0.02)
        try:
            return await real(*args, **kwargs)
        finally:
            running["now"] -= 1

    monkeypatch.setattr(app, "handle", jittery)
    chats = [300 + i for i in range(8)]
    numbers = [f"{90000000 + i:08d}-{1000 + i:04d}" for i in range(10)]  # not in the demo store

    async def go():
        last = {}
        for number in numbers:
            for chat in chats:
                last[chat] = fake.text(chat, number)
        for chat in chats:
            await bot.processed(last[chat])
        for chat in chats:
            incoming = [e.text for e in await app.store.transcript(str(chat)) if e.direction == "in"]
            assert incoming == numbers
            texts = [c.params["text"] for c in fake.sent(chat)]
            seen = [n for t in texts for n in numbers if n in t]
            assert seen == numbers, seen
    await asyncio.wait_for(go(), TIMEOUT * 2)
    assert running["peak"] > 1  # chats really ran concurrently
