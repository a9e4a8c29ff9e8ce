"""The webhook server: secret token, health check, and buyers served through it."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.app import App
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, fake, label, running_bot  # noqa: F401


async def test_webhook_serves_buyers_and_rejects_wrong_secret(fake: FakeTelegram, app: App, settings):
    async def go():
        async with running_bot(fake, app, settings, webhook="http://127.0.0.1:1/tg/hook") as bot:
            port = bot.serving.port
            # tell the fake where we really listen (the URL we registered is the public one)
            fake.webhook["url"] = f"http://127.0.0.1:{port}/tg/hook"
            assert fake.webhook["secret_token"] == bot.serving.secret and len(bot.serving.secret) >= 32
            buyer = bot.buyer(400, "zh-hans")
            await buyer.send("/start")
            assert buyer.text == label(app, "menu.greeting", "zh")
            await buyer.press(label(app, "menu.order_status", "zh"))
            assert buyer.text == app.renderer.text("lookup.ask_number", "zh")
            async with aiohttp.ClientSession() as http:
                update = {"update_id": 999,
                          "message": {"message_id": 1, "date": 0, "chat": {"id": 401, "type": "private"},
                                      "from": {"id": 401, "is_bot": False, "first_name": "x"}, "text": "/start"}}
                url = f"http://127.0.0.1:{port}/tg/hook"
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                    async with http.post(url, json=update, headers=headers) as resp:
                        assert resp.status == 403
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200 and (await resp.json())["ok"] is True
            await asyncio.sleep(0.1)
            assert fake.sent(401) == []
            assert not any(c.method == "getUpdates" for c in fake.calls)
    await asyncio.wait_for(go(), TIMEOUT * 2)


async def test_webhook_uses_the_configured_secret(fake: FakeTelegram, app: App, settings):
    from pydantic import SecretStr

    settings.webhook_secret = SecretStr("my-secret_123")

    async def go():
        async with running_bot(fake, app, settings, webhook="https://bot.example/hook") as bot:
            assert fake.webhook == {"url": "https://bot.example/hook", "secret_token": "my-secret_123",
                                    "allowed_updates": fake.webhook["allowed_updates"]}
            assert bot.serving.secret == "my-secret_123"
    await asyncio.wait_for(go(), TIMEOUT)
