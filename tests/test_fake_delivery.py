"""tests/fake_delivery.py keeps Telegram's delivery guarantees: pending until confirmed, again after a restart."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientSession, web

from tests.fake_delivery import DeliveryForum
from tests.fake_telegram import TOKEN


async def get_updates(session: ClientSession, fake: DeliveryForum, offset: int = 0,
                      timeout: float = 0) -> list[dict[str, Any]]:
    async with session.post(f"{fake.api_base}{TOKEN}/getUpdates", json={"offset": offset, "timeout": timeout}) as resp:
        body = await resp.json()
    assert body["ok"], body
    return body["result"]


async def test_updates_stay_pending_until_an_offset_confirms_them():
    async with DeliveryForum() as fake, ClientSession() as session:
        confirmed: list[list[int]] = []
        fake.on_confirm.append(confirmed.append)
        first, second = fake.text(7001, "a"), fake.text(7002, "b")
        assert [u["update_id"] for u in await get_updates(session, fake)] == [first, second]
        # the bot "restarts" without confirming: everything again
        assert [u["update_id"] for u in await get_updates(session, fake)] == [first, second]
        assert [u["update_id"] for u in await get_updates(session, fake, offset=first + 1)] == [second]
        assert confirmed == [[first]] and first in fake.confirmed_at and second not in fake.confirmed_at
        assert fake.deliveries[first] == 2 and fake.deliveries[second] == 3
        third = fake.text(7001, "c")
        assert [u["update_id"] for u in await get_updates(session, fake, offset=second + 1)] == [third]
        assert fake.pending_ids() == [third]


async def test_long_poll_waits_for_the_next_update_and_calls_are_timed():
    async with DeliveryForum() as fake, ClientSession() as session:
        polling = asyncio.create_task(get_updates(session, fake, timeout=5))
        await fake.wait_for(lambda: any(c.method == "getUpdates" for c in fake.requests), 5)
        assert not fake.calls  # received, not answered yet
        uid = fake.text(7001, "hello")
        assert [u["update_id"] for u in await asyncio.wait_for(polling, 5)] == [uid]
        call = fake.calls[-1]
        assert call.done_at is not None and call.done_at >= call.at and not call.reset


async def test_webhook_redelivers_until_2xx_one_at_a_time_per_chat():
    answers = {"count": 0}
    seen: list[tuple[int, int]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        chat = update["message"]["chat"]["id"]
        seen.append((chat, update["update_id"]))
        if chat == 7001 and answers["count"] < 2:
            answers["count"] += 1
            return web.Response(status=500)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with DeliveryForum() as fake, ClientSession() as session:
            fake.redeliver_after = 0.05
            first, second, other = fake.text(7001, "1"), fake.text(7001, "2"), fake.text(7002, "x")
            hook = {"url": f"http://127.0.0.1:{port}/hook"}
            async with session.post(f"{fake.api_base}{TOKEN}/setWebhook", json=hook) as r:
                assert (await r.json())["ok"]
            await fake.wait_for(lambda: not fake.pending, 5)
            mine = [u for c, u in seen if c == 7001]
            assert mine == [first, first, first, second]  # 500, 500, 200; the next only after that
            assert [u for c, u in seen if c == 7002] == [other]  # another chat is not held up
            assert seen.index((7002, other)) < 2  # ... and went meanwhile
            assert [p.status for p in fake.webhook_posts if p.update_id == first] == [500, 500, 200]
            assert set(fake.confirmed_at) == {first, second, other}
    finally:
        await runner.cleanup()


async def test_webhook_can_repeat_an_update_after_a_2xx():
    posted: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        posted.append((await request.json())["update_id"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with DeliveryForum() as fake, ClientSession() as session:
            fake.repeat_after_2xx = 1.0
            uid = fake.text(7001, "once")
            hook = {"url": f"http://127.0.0.1:{port}/hook"}
            async with session.post(f"{fake.api_base}{TOKEN}/setWebhook", json=hook) as r:
                assert (await r.json())["ok"]
            await fake.wait_for(lambda: not fake.pending, 5)
            assert posted == [uid, uid] and fake.repeated == [uid]  # once again, not forever
    finally:
        await runner.cleanup()
