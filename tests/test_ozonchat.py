"""The Ozon chat front end against a fake Ozon chat API on loopback: push and polling into the
inbox, replies rendered without buttons, read marks, repeats, recovery, ownership from the chat's
context, reply windows, the missing subscription and the handoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.orders.ozon.client import OzonClient
from bot.ozonchat.adapter import OzonChatAdapter
from bot.ozonchat.api import OzonChatApi
from bot.ozonchat.render import choices_shown
from tests.conftest import NOW
from tests.fake_ozon import API_KEY, CLIENT_ID
from tests.fake_ozon_chat import READ, SEND, FakeOzonChat

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fake():
    async with FakeOzonChat() as server:
        yield server


def make_api(fake: FakeOzonChat) -> OzonChatApi:
    return OzonChatApi(OzonClient(CLIENT_ID, API_KEY, base_url=fake.url))


@pytest.fixture
async def adapter(app, fake, clock):
    api = make_api(fake)
    a = OzonChatAdapter(app, api, clock=clock.now)
    yield a
    await a.close()
    await api.close()


async def settle(adapter: OzonChatAdapter) -> None:
    await asyncio.wait_for(adapter.drain(), 20)


async def test_push_answers_with_numbered_choices_and_marks_read(adapter, fake):
    push = fake.buyer_writes("chat-1", "Здравствуйте", at=NOW)
    await adapter.handle_push(push)
    await settle(adapter)
    sent = fake.sent("chat-1")
    assert sent, "the bot answered in Ozon chat"
    menu = choices_shown(sent[-1])
    assert len(menu) >= 5 and menu[0]  # the main menu, as numbered lines
    assert fake.chats["chat-1"].read_upto == int(push["message_id"])
    status = await adapter.store.inbox_status(f"oz:{push['message_id']}")
    assert status == "done"
    # the typed number picks the option shown under that number
    await adapter.handle_push(fake.buyer_writes("chat-1", "1", at=NOW))
    await settle(adapter)
    assert "57195475-0050" in fake.sent("chat-1")[-1]  # the order-status flow asks for the number
