"""With OZON_ALLOW_CANCEL, a buyer's cancellation before packing is sent to the Seller API; the
buyer is told the result and it is recorded. Real app, real provider, fake Seller API on loopback."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import build_app
from bot.orders.ozon.provider import OzonOrderProvider
from bot.store.sqlite import SqliteStore
from tests.conftest import ChatDriver
from tests.fake_ozon import API_KEY, CLIENT_ID, FakeOzon, sample, server_error

POSTING = "57195475-0050-1"


@pytest.fixture
async def setup(settings, catalogs, clock, tmp_path):
    async with FakeOzon() as fake:
        fake.add(sample(POSTING, status="awaiting_packaging", substatus="posting_created", phone_last4="4321"))
        settings.ozon_allow_cancel = True
        provider = OzonOrderProvider(CLIENT_ID, API_KEY, base_url=fake.url, allow_cancel=True, max_retries=1)
        app = build_app(settings, catalogs=catalogs, clock=clock, orders=provider, store=SqliteStore(tmp_path / "s.db"))
        yield fake, app
        await app.close()


async def ask_to_cancel(app) -> ChatDriver:
    chat = ChatDriver(app, "canceller", "ru")
    await chat.send(f"/cancel {POSTING}")
    await chat.send("4321")
    await chat.press("Отмените за меня")
    await chat.press("Передумали")
    return chat


async def test_cancellation_before_packing_goes_through_the_api(setup):
    fake, app = setup
    chat = await asyncio.wait_for(ask_to_cancel(app), 20)
    assert fake.cancelled and fake.cancelled[0]["posting_number"] == POSTING
    assert fake.cancelled[0]["cancel_reason_id"] == 506  # the buyer-side reason, never 402
    assert f"Готово: заказ {POSTING} отменён" in chat.text
    recorded = [(a["name"], a["args"]) for a in await app.store.actions("canceller")]
    assert ("cancellation_result", {"posting": POSTING, "cancelled": True}) in recorded


async def test_a_failed_api_cancel_is_told_and_left_to_the_seller(setup):
    fake, app = setup
    fake.fail("/v2/posting/fbs/cancel", server_error(500), server_error(500))
    chat = await asyncio.wait_for(ask_to_cancel(app), 20)
    assert "не получилось" in chat.text and "Traceback" not in chat.text
    recorded = [(a["name"], a["args"]) for a in await app.store.actions("canceller")]
    assert ("cancellation_result", {"posting": POSTING, "cancelled": False}) in recorded
    assert ("request_cancellation", {"posting": POSTING, "reason": "changed_mind"}) in recorded


async def test_without_a_buyer_side_reason_nothing_is_cancelled_and_nothing_claimed(setup):
    """Ozon offers no buyer-side reason: the bot never falls back to a seller-fault reason (402);
    the request stays with the staff and the buyer is not told the order is cancelled."""
    fake, app = setup
    fake.buyer_reason = False
    chat = await asyncio.wait_for(ask_to_cancel(app), 20)
    assert fake.cancelled == []
    assert "Приняли Вашу просьбу" in chat.text and "Готово" not in chat.text and "заказ отменён" not in chat.text
    recorded = [a["name"] for a in await app.store.actions("canceller")]
    assert "request_cancellation" in recorded and "cancellation_result" not in recorded
