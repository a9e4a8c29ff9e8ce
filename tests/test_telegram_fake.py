"""The fake Bot API itself, driven by PTB's Bot over real HTTP."""

import asyncio

import pytest
from telegram import Bot
from telegram.error import EndPointNotFound, Forbidden, InvalidToken, RetryAfter

from tests.fake_telegram import TOKEN, FakeTelegram


@pytest.fixture
async def fake():
    async with FakeTelegram() as f:
        yield f


async def test_shapes_failures_and_long_poll(fake: FakeTelegram):
    async def go():
        async with Bot(TOKEN, base_url=fake.api_base) as bot:
            assert bot.username == "ozon_help_test_bot"
            msg = await bot.send_message(7, "a < b & c")
            assert msg.text == "a < b & c" and msg.chat.id == 7
            fake.fail("sendMessage", 429, retry_after=3)
            with pytest.raises(RetryAfter) as exc:
                await bot.send_message(7, "x")
            ra = exc.value.retry_after
            assert getattr(ra, "total_seconds", lambda: ra)() == 3
            fake.fail("sendMessage", 403)
            with pytest.raises(Forbidden):
                await bot.send_message(7, "x")
            assert await bot.get_updates(timeout=0) == ()
            waiter = asyncio.create_task(bot.get_updates(timeout=2))
            await asyncio.sleep(0.05)
            fake.text(7, "/start")
            updates = await waiter
            assert updates[0].message.text == "/start"
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
        async with Bot("1:bad", base_url=fake.api_base):
            pass
    with pytest.raises(InvalidToken):
        await asyncio.wait_for(go(), 10)
    assert [c.method for c in fake.calls if c.status == 200][:2] == ["getMe", "sendMessage"]
    assert fake.unexpected == []


async def test_unknown_method_is_recorded(fake: FakeTelegram):
    async with Bot(TOKEN, base_url=fake.api_base) as bot:
        with pytest.raises(EndPointNotFound):
            await asyncio.wait_for(bot.do_api_request("sendDice", {"chat_id": 1}), 5)
    assert [c.method for c in fake.unexpected] == ["sendDice"]
