"""In webhook mode the Ozon push endpoint is served by the Telegram webhook's own aiohttp server."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.app import App
from bot.orders.demo import DemoOrderProvider
from bot.orders.mirror.demo_source import DemoSource
from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.store import MemoryMirrorStore
from bot.push.endpoint import PushEndpoint, push_path
from bot.push.service import MirrorService
from bot.telegram.build import build_telegram
from bot.telegram.run import serving
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import (
    FAST,
    TIMEOUT,
    RecordingHandoff,
    fake,  # noqa: F401 - the fixture
    tg_settings,
)


async def test_push_endpoint_shares_the_webhook_server(fake: FakeTelegram, app: App, settings, tmp_path):  # noqa: F811
    mirror = Mirror(MemoryMirrorStore(), DemoSource(DemoOrderProvider(tmp_path / "orders.db")))
    service = MirrorService(mirror, sync_every=3600, endpoint=PushEndpoint(mirror.store, "hook-secret"),
                            listen=("127.0.0.1", 1))  # never bound: the webhook's server serves it

    async def go():
        application = build_telegram(app, tg_settings(settings, fake), handoff=RecordingHandoff(), webhook=True,
                                     policy=FAST)
        async with serving(application, settings, webhook="https://bot.example/tg", listen="127.0.0.1:0",
                           routes=service.attach) as info:
            await service.start()
            assert service.port == 0, "no server of its own"
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{info.port}{push_path('hook-secret')}"
                async with http.post(url, json={"message_type": "TYPE_PING", "time": "2019-08-24T14:15:22Z"}) as r:
                    assert r.status == 200 and {"version", "name", "time"} <= (await r.json()).keys()
                async with http.post(url, json={"message_type": "TYPE_CHAT_CLOSED", "chat_id": "x"}) as r:
                    assert await r.json() == {"result": True}
                async with http.get(f"http://127.0.0.1:{info.port}/healthz") as r:
                    assert r.status == 200
            await service.stop()
    await asyncio.wait_for(go(), TIMEOUT * 2)
    await mirror.close()
