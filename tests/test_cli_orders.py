"""`ozonbot orders check` and `ozonbot link`, run as real commands against a fake Seller API."""

from __future__ import annotations

import asyncio
import os
import sys

from bot.orders.signed_link import verify_payload
from tests.fake_ozon import API_KEY, CLIENT_ID, FakeOzon, bad_key


async def ozonbot(*args: str, **env: str) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OZON_", "LINK_"))} | env
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, env=full_env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_orders_check_prints_roles_and_expiry():
    async with FakeOzon() as fake:
        rc, out, _ = await ozonbot("orders", "check", OZON_CLIENT_ID=CLIENT_ID, OZON_API_KEY=API_KEY,
                                   OZON_BASE_URL=fake.url)
    assert rc == 0 and "roles: Posting FBS" in out and "expires:" in out


async def test_orders_check_says_what_is_wrong_without_printing_the_key():
    async with FakeOzon() as fake:
        fake.fail_all(bad_key())
        rc, out, err = await ozonbot("orders", "check", OZON_CLIENT_ID=CLIENT_ID, OZON_API_KEY="wrong-key-123",
                                     OZON_BASE_URL=fake.url)
    assert rc == 1 and "refused the key" in err and "wrong-key-123" not in out + err


async def test_orders_check_without_credentials():
    rc, _, err = await ozonbot("orders", "check")
    assert rc == 1 and "OZON_CLIENT_ID" in err


async def test_link_prints_a_payload_that_verifies():
    rc, out, _ = await ozonbot("link", "57195475-0050-3", "--bot", "shop_bot", LINK_SECRET="s3cret")
    assert rc == 0 and out.startswith("https://t.me/shop_bot?start=")
    payload = out.strip().split("start=")[1]
    assert len(payload) <= 64 and verify_payload(payload, "s3cret") == "57195475-0050-3"
    assert verify_payload(payload, "other-secret") is None


async def test_link_rejects_a_non_posting():
    rc, _, err = await ozonbot("link", "57195475-0050", LINK_SECRET="s3cret")
    assert rc == 2 and "not a posting number" in err
