"""An Ozon chat buyer and the agents' forum group: the same topics as Telegram buyers, the card
says where the buyer is, agents' replies go back through /v1/chat/send/message, the bot stays
silent while an agent owns the chat, and what cannot be sent becomes a note in the topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import App
from bot.handoff.records import SENT, TO_BUYER
from bot.ozonchat import agents
from bot.ozonchat.adapter import OzonChatAdapter
from bot.settings import Settings
from tests.conftest import NOW
from tests.fake_forum import FakeForum
from tests.fake_ozon_chat import FakeOzonChat
from tests.test_handoff_roundtrip import AGENT, Harness, forum, handoff_bot  # noqa: F401
from tests.test_ozonchat import make_api

pytestmark = pytest.mark.timeout(60)
CHAT = "chat-h"
CONV = f"oz:{CHAT}"


@pytest.fixture
async def both(forum: FakeForum, app: App, settings: Settings,  # noqa: F811 - the imported fixture
               clock) -> AsyncIterator[tuple[Harness, OzonChatAdapter, FakeOzonChat]]:
    async with FakeOzonChat() as ozon, handoff_bot(forum, app, settings, clock) as h:
        api = make_api(ozon)
        adapter = OzonChatAdapter(app, api, handoff=h.handoff, note=agents.topic_note(h.handoff), clock=clock.now)
        agents.attach(h.handoff, adapter.channel, adapter.conversation.start_flow)
        yield h, adapter, ozon
        await adapter.close()
        await api.close()


async def until(predicate, timeout: float = 10.0):
    """Poll `predicate` (sync or async) until it is truthy: Ozon's side does not wake the forum's waiters."""
    async def loop():
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.02)
    return await asyncio.wait_for(loop(), timeout)


async def buyer(adapter: OzonChatAdapter, ozon: FakeOzonChat, text: str, **kw) -> None:
    await adapter.handle_push(ozon.buyer_writes(CHAT, text, at=kw.pop("at", NOW), **kw))
    await asyncio.wait_for(adapter.drain(), 20)


async def topic_texts(h: Harness) -> list[str]:
    topic = await h.handoff.records.topic(CONV)
    assert topic is not None, "no topic for the Ozon buyer"
    return h.texts_in(topic.thread_id)


async def test_an_ozon_buyer_is_handed_to_agents_and_answered_through_ozon(both):
    h, adapter, ozon = both
    await buyer(adapter, ozon, "/agent")
    await h.until(lambda: h.handoff.records.topic(CONV))
    card = await h.until(lambda: topic_texts(h))
    assert "чате Ozon" in card[0]  # the card says where the buyer is
    assert any("первый" in t or "Перед Вами" in t for t in ozon.sent(CHAT))  # their place in the queue, in Ozon

    sent_before = len(ozon.sent(CHAT))
    await buyer(adapter, ozon, "Где мой заказ? <b>срочно</b>")
    await until(lambda: _has(h, "Где мой заказ? &lt;b&gt;срочно&lt;/b&gt;"))  # the buyer's text, as text
    assert len(ozon.sent(CHAT)) == sent_before, "the bot stays silent while an agent owns the chat"

    thread = (await h.handoff.records.topic(CONV)).thread_id  # type: ignore[union-attr]
    h.fake.agent_text(AGENT, thread, "Здравствуйте! Звоните +7 916 123-45-67, проверю заказ.")
    await until(lambda: len(ozon.sent(CHAT)) > sent_before)
    assert ozon.sent(CHAT)[-1] == "Здравствуйте! Звоните …, проверю заказ."  # moderation-safe, as the shop
    relays = await h.handoff.records.relays(CONV)
    assert any(r.direction == TO_BUYER and r.key.startswith("a:") and r.status == SENT for r in relays)

    before = len(ozon.sent(CHAT))
    h.fake.agent_text(AGENT, thread, "/close")
    await until(lambda: len(ozon.sent(CHAT)) > before)
    assert not await h.handoff.is_active(CONV)
    assert all("⭐" not in t for t in ozon.sent(CHAT))  # no rating buttons in Ozon chat
    await buyer(adapter, ozon, "Здравствуйте")
    assert len(ozon.sent(CHAT)) > before + 1  # the bot answers again


def _has(h: Harness, text: str):
    async def check() -> bool:
        topic = await h.handoff.records.topic(CONV)
        return topic is not None and any(text in t for t in h.texts_in(topic.thread_id))
    return check()


async def test_an_agent_reply_outside_the_window_is_reported_in_the_topic(both, clock, demo_order):
    h, adapter, ozon = both
    fbo = demo_order["fbo_packaging"]
    await buyer(adapter, ozon, "/agent", order_number=fbo.order_number)
    await h.until(lambda: h.handoff.records.topic(CONV))
    thread = (await h.handoff.records.topic(CONV)).thread_id  # type: ignore[union-attr]
    before = len(ozon.sent(CHAT))
    clock.current = NOW + timedelta(hours=49)  # FBO: 48 h after the buyer's last message
    h.fake.agent_text(AGENT, thread, "Ответ через двое суток")
    notes = await until(lambda: [t for t in h.texts_in(thread) if "reply_window_closed" in t])
    assert notes  # the agents learn why their reply did not reach the buyer
    assert len(ozon.sent(CHAT)) == before



async def test_an_agents_flow_command_puts_the_ozon_buyer_back_into_a_flow_in_ozon(both):
    h, adapter, ozon = both
    await buyer(adapter, ozon, "/agent")
    await h.until(lambda: h.handoff.records.topic(CONV))
    thread = (await h.handoff.records.topic(CONV)).thread_id  # type: ignore[union-attr]
    before = len(ozon.sent(CHAT))
    h.fake.agent_text(AGENT, thread, "/flow main_menu")
    await until(lambda: len(ozon.sent(CHAT)) > before)
    assert "1. " in ozon.sent(CHAT)[-1]  # the menu, as numbered lines, in Ozon chat


async def test_a_buyers_edit_in_ozon_is_mirrored_in_the_topic(both):
    h, adapter, ozon = both
    await buyer(adapter, ozon, "/agent")
    await h.until(lambda: h.handoff.records.topic(CONV))
    push = ozon.buyer_writes(CHAT, "Заказ 46208137-0007", at=NOW)
    await adapter.handle_push(push)
    await asyncio.wait_for(adapter.drain(), 20)
    await until(lambda: _has(h, "Заказ 46208137-0007"))
    edit = dict(push, message_type="TYPE_UPDATE_MESSAGE", data=["Заказ 46208137-0008"],
                updated_at="2026-11-20T09:05:00Z")
    await adapter.handle_push(edit)
    await adapter.handle_push(dict(edit))  # a repeat of the same edit changes nothing more
    await asyncio.wait_for(adapter.drain(), 20)
    await until(lambda: _has(h, "Заказ 46208137-0008"))
    assert not await _has(h, "Заказ 46208137-0007")
