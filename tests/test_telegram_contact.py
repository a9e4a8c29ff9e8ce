"""Telegram's "share my phone number" button over real Telegram HTTP: the ask carries a
request_contact keyboard, the buyer's own contact proves the order, someone else's contact never
does, and the keyboard is taken away once it is no longer asked for."""

from __future__ import annotations

import asyncio

from bot.app import App
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import TIMEOUT, fake, running_bot  # noqa: F401


async def _contact(bot, buyer, phone: str, user_id: int | None) -> None:
    before = len(bot.fake.sent(buyer.chat_id))
    contact = {"phone_number": phone, "first_name": "Покупатель"}
    if user_id is not None:
        contact["user_id"] = user_id
    uid = bot.fake.message(buyer.chat_id, "ru", contact=contact)
    await bot.processed(uid)
    buyer._since(before)


async def test_the_buyers_own_contact_proves_the_order(fake: FakeTelegram, app: App, settings, demo_order):
    order = demo_order["packaging_on_time"]

    async def go():
        async with running_bot(fake, app, settings) as bot:
            buyer = bot.buyer(5151, "ru")
            await buyer.send(order.order_number)
            markups = [c.params.get("reply_markup") or {} for c in buyer.last]
            keyboard = next(m["keyboard"] for m in markups if "keyboard" in m)
            assert keyboard[0][0]["request_contact"] is True and "Поделиться" in keyboard[0][0]["text"]

            await _contact(bot, buyer, "+7" + order.phone_digits, user_id=5151)
            assert order.posting_number in buyer.text
            assert any((c.params.get("reply_markup") or {}).get("remove_keyboard") for c in buyer.last) or \
                all("keyboard" not in (c.params.get("reply_markup") or {}) for c in buyer.last)
            assert order.order_number in (await buyer.state()).verified

            thief = bot.buyer(6161, "ru")
            await thief.send(order.order_number)
            await _contact(bot, thief, "+7" + order.phone_digits, user_id=5151)  # the owner's contact, forwarded
            assert order.posting_number not in thief.text
            await _contact(bot, thief, "+7" + order.phone_digits, user_id=None)  # a contact typed by hand
            assert order.posting_number not in thief.text
            assert (await thief.state()).verified == []

    await asyncio.wait_for(go(), TIMEOUT * 3)
