"""Without an agents' group, a handoff must not leave the buyer waiting for nobody."""

from __future__ import annotations

import asyncio

from bot.app import App
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, fake, running_bot  # noqa: F401


async def test_without_an_agents_group_a_handoff_says_nobody_can_join(fake: FakeTelegram, app: App, settings):
    from bot.conversation.ports import NoHandoff

    async def go():
        async with running_bot(fake, app, settings, handoff=NoHandoff()) as bot:
            buyer = bot.buyer(5151, "ru")
            await buyer.send("/agent")
            texts = [c.params["text"] for c in fake.calls_of("sendMessage", 5151)]
            assert "Передаю разговор оператору" in texts[0]
            assert any("не может подключиться" in t for t in texts)
            state = await buyer.state()
            assert state.at is not None and state.at.flow == "no_agent"

    await asyncio.wait_for(go(), TIMEOUT * 3)
