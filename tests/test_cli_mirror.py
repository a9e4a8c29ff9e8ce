"""`ozonbot orders sync` and `ozonbot orders push-check`, run as real commands (demo shop, fake
Seller API, a push endpoint on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.orders.mirror.store import MemoryMirrorStore, MirrorRow
from bot.push.endpoint import PushEndpoint
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import API_KEY, CLIENT_ID, FakeOzon, sample
from tests.test_cli_orders import ozonbot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_orders_sync_on_the_demo_shop_then_incrementally(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "DEMO_STEP_SECONDS": "0.5"}
    rc, out, err = await ozonbot("orders", "sync", "--json", **env)
    assert rc == 0, err
    first = json.loads(out)
    assert first["mode"] == "baseline" and first["read"] >= 54 and first["held"] == first["read"]
    assert first["changes"].get("new", 0) == 0
    assert first["purged"] == 0
    store = SqliteMirrorStore(tmp_path / "conversations.sqlite3")  # a posting delivered long ago
    long_ago = time.time() - 400 * 86400
    await store.commit([MirrorRow(sample("88888888-0008-1", status="delivered"), long_ago, long_ago)], [])
    await store.close()
    rc, out, err = await ozonbot("orders", "sync", **env)  # the live postings moved meanwhile (0.5 s a step)
    assert rc == 0, err
    assert out.startswith("incremental sync from the demo shop") and "the mirror holds" in out
    assert "retention: forgot 1 delivered or cancelled posting unchanged for more than 120 days" in out
    store = SqliteMirrorStore(tmp_path / "conversations.sqlite3")
    assert await store.get(["88888888-0008-1"]) == {}
    await store.close()


async def test_orders_sync_against_the_seller_api_and_when_it_fails(tmp_path):
    async with FakeOzon() as fake:
        fake.add(sample("12345678-0001-1", status="awaiting_packaging",
                        shipment_date=datetime.now(UTC) - timedelta(hours=1)))
        env = {"DATA_DIR": str(tmp_path), "ORDER_PROVIDER": "ozon", "OZON_CLIENT_ID": CLIENT_ID,
               "OZON_API_KEY": API_KEY, "OZON_BASE_URL": fake.url}
        rc, out, err = await ozonbot("orders", "sync", **env)
        assert rc == 0, err
        assert "baseline sync from the Seller API: 1 postings read" in out and "shipment_late 1" in out
        rc, _, err = await ozonbot("orders", "sync", **(env | {"OZON_API_KEY": "wrong-key-456"}))
        assert rc == 1 and "could not sync" in err and "wrong-key-456" not in err


async def test_push_check_without_a_secret_says_what_to_set(tmp_path):
    rc, out, _ = await ozonbot("orders", "push-check", DATA_DIR=str(tmp_path))
    assert rc == 1 and "OZON_PUSH_SECRET is not set" in out and "OZON_PUSH_URL" in out


async def test_push_check_pings_a_temporary_endpoint_when_the_bot_is_not_running(tmp_path):
    port = free_port()
    rc, out, _ = await ozonbot("orders", "push-check", DATA_DIR=str(tmp_path), OZON_PUSH_SECRET="abcdef123",
                               OZON_PUSH_LISTEN=f"127.0.0.1:{port}")
    assert "temporary endpoint" in out and "answers TYPE_PING as Ozon expects" in out
    assert rc == 1 and "OZON_PUSH_URL is not set" in out, "no public URL yet"
    assert "abcdef123" not in out and "seller.ozon.ru/app/settings/notifications-api" in out


async def test_push_check_pings_the_running_endpoint_and_the_public_url(tmp_path):
    app = web.Application()
    PushEndpoint(MemoryMirrorStore(), "abcdef123").attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        rc, out, _ = await ozonbot("orders", "push-check", "--show-secret", DATA_DIR=str(tmp_path),
                                   OZON_PUSH_SECRET="abcdef123", OZON_PUSH_LISTEN=f"0.0.0.0:{port}",
                                   OZON_PUSH_URL=f"http://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()
    assert rc == 0, out
    assert "temporary" not in out and "public URL" in out and "answers TYPE_PING" in out
    assert f"http://127.0.0.1:{port}/ozon/push/abcdef123" in out, "--show-secret prints the URL to paste"
    assert "OZON_PUSH_ALLOW_IPS is empty" in out


async def test_bad_push_settings_stop_every_command(tmp_path):
    rc, _, err = await ozonbot("orders", "list", DATA_DIR=str(tmp_path), OZON_PUSH_ALLOW_IPS="ozon,10.0.0.300",
                               OZON_PUSH_LISTEN="8081")
    assert rc == 2 and "OZON_PUSH_ALLOW_IPS: '10.0.0.300' is not an IP address" in err
    assert "OZON_PUSH_LISTEN: must be host:port" in err


async def test_chat_with_a_push_secret_serves_the_push_endpoint(tmp_path):
    """`ozonbot run` without a Telegram token is the terminal chat; with OZON_PUSH_SECRET the mirror's
    sync and push endpoint run beside it (here on the demo shop)."""
    import asyncio
    import os
    import sys

    import aiohttp

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "TELEGRAM_"))} | {
        "DATA_DIR": str(tmp_path), "OZON_PUSH_SECRET": "run-secret", "OZON_PUSH_LISTEN": f"127.0.0.1:{port}"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        answer = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            for _ in range(300):
                try:
                    async with http.post(f"http://127.0.0.1:{port}/ozon/push/run-secret",
                                         json={"message_type": "TYPE_PING", "time": "2019-08-24T14:15:22Z"}) as r:
                        answer = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        assert answer is not None and answer["name"] == "ozonbot"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the chat ends, the service stops
        await asyncio.wait_for(proc.wait(), 30)
