"""A signed order link (`t.me/<bot>?start=<payload>`) proves ownership over real Telegram HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from bot.app import App
from bot.orders.signed_link import sign_posting
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, fake, running_bot  # noqa: F401


async def test_signed_start_payload_skips_the_phone_check(fake: FakeTelegram, app: App, settings, demo_order):
    order = demo_order["fbo_no_phone"]  # FBO: no phone in the API, so without a link only an agent could confirm
    settings.link_secret = SecretStr("shop-secret")
    payload = sign_posting(order.posting_number, "shop-secret")

    async def go():
        async with running_bot(fake, app, settings) as bot:
            buyer = bot.buyer(4242, "ru")
            await buyer.send(f"/start {payload}")
            assert order.posting_number in buyer.text and "последние 4 цифры" not in buyer.text
            state = await buyer.state()
            assert order.order_number in state.verified

            other = bot.buyer(4444, "ru")  # the same link opened from another account: bound to the first
            await other.send(f"/start {payload}")
            assert "другого аккаунта" in other.text and order.posting_number not in other.text
            assert (await other.state()).verified == []

            old = sign_posting(order.posting_number, "shop-secret", datetime.now(UTC) - timedelta(days=40))
            late = bot.buyer(4545, "ru")
            await late.send(f"/start {old}")
            assert "истёк" in late.text and order.posting_number not in late.text

            forged = bot.buyer(4343, "ru")
            await forged.send(f"/start {payload[:-2]}xx")  # a tampered signature is only a /start
            assert "Здравствуйте" in forged.text
            assert (await forged.state()).verified == []

    await asyncio.wait_for(go(), TIMEOUT * 3)

