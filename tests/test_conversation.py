"""The conversation service on its own: the rules every front end gets, driven through a recording
channel and a recording handoff on the real app (real SQLite store, real flows and catalogs)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import App
from bot.conversation.io import Inbound, Reply, SourceRef
from bot.conversation.ratelimit import ALLOW, DROP, WARN, RateLimiter
from bot.conversation.service import Conversation
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer, Command, Media, Press, Start, Text
from bot.engine.state import ConversationState

BUYER = Buyer(id="c-1", language_code="ru", name="Анна")


class RecordingChannel:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.texts: list[str] = []
        self.files: list[tuple[str, bytes]] = []

    async def deliver(self, conversation: str, reply: Reply) -> None:
        self.replies.append(reply)

    async def send_text(self, conversation: str, text: str) -> None:
        self.texts.append(text)

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        self.files.append((filename, data))

    def said(self) -> str:
        return "\n".join([m.text for r in self.replies for m in r.outgoing] + self.texts)


class RecordingHandoff:
    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.active: set[str] = set()
        self.calls: list[tuple[str, Any]] = []

    async def is_active(self, conversation: str) -> bool:
        return conversation in self.active

    async def start(self, conversation: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        self.calls.append(("start", handoff.reason))
        self.active.add(conversation)

    async def relay_from_buyer(self, conversation: str, inbound: Inbound) -> None:
        self.calls.append(("relay", inbound.text))

    async def buyer_left(self, conversation: str) -> None:
        self.active.discard(conversation)
        self.calls.append(("left", conversation))

    async def notify_action(self, conversation: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        self.calls.append(("action", action.name))


def inbound(event, text: str = "", kind: str = "text", **kw: Any) -> Inbound:
    return Inbound("c-1", BUYER, event, kind, text, **kw)


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


async def test_a_turn_is_delivered_through_the_channel(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel)
    reply = await conv.handle(inbound(Start(), "/start", "command"))
    assert reply is not None and channel.replies == [reply]
    assert any(m.meta.get("buttons") for m in reply.outgoing), "the menu's buttons"
    transcript = await app.store.transcript("c-1")
    assert [e.direction for e in transcript][:1] == ["in"] and transcript[0].text == "/start"


async def test_silent_while_an_agent_owns_the_chat_and_bot_command_leaves(app: App, channel: RecordingChannel):
    handoff = RecordingHandoff()
    conv = Conversation(app, channel, handoff)
    await conv.handle(inbound(Command("agent"), "/agent", "command"))
    assert ("start", "buyer_request") in handoff.calls
    delivered = len(channel.replies)
    assert await conv.handle(inbound(Text("алло?"), "алло?", ref=SourceRef("c-1", 7))) is None
    assert len(channel.replies) == delivered, "the bot says nothing while the agent owns the chat"
    assert ("relay", "алло?") in handoff.calls
    assert (await app.store.transcript("c-1"))[-1].text == "алло?", "the buyer's message is still recorded"
    reply = await conv.handle(inbound(Command("bot"), "/bot", "command"))
    assert ("left", "c-1") in handoff.calls and reply is not None
    assert "оператор" in channel.said().lower()


async def test_without_agents_a_handoff_starts_the_no_agent_flow(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel, RecordingHandoff(available=False))
    await conv.handle(inbound(Command("agent"), "/agent", "command"))
    state = await app.store.load_state("c-1")
    assert state is not None and any(step.startswith("no_agent:") for step in state.path)


async def test_without_agents_a_request_to_staff_promises_no_answer_here(app: App, channel: RecordingChannel,
                                                                         demo_order):
    """The flows promise "we will write here" after a request; with nobody to read it, the buyer is
    told where to write instead (issue 12: never claim what did not happen)."""
    order = demo_order["packaging_seller_late"]
    conv = Conversation(app, channel, RecordingHandoff(available=False))
    await conv.handle(inbound(Text(f"Где мой заказ {order.order_number}?"), "где мой заказ"))
    await conv.handle(inbound(Text(order.phone_last4 or ""), "digits"))
    state = await app.store.load_state("c-1")
    assert state is not None and state.at is not None and state.at.node == "seller_late"
    await conv.handle(inbound(Press("urge", "seller_late"), "urge", "press"))
    assert any("чате заказа в приложении Ozon" in t for t in channel.texts), channel.texts
    with_agents = RecordingChannel()
    conv = Conversation(app, with_agents, RecordingHandoff(available=True))
    await conv.handle(inbound(Text("/menu"), "/menu"))
    assert not any("чате заказа" in t for t in with_agents.texts)


async def test_history_is_sent_as_a_file(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel)
    await conv.handle(inbound(Start(), "/start", "command"))
    await conv.handle(inbound(Command("history"), "/history", "command"))
    (name, data), = channel.files
    assert name == "history.txt" and "> /start" in data.decode() and "< " in data.decode()


async def test_what_the_engine_cannot_take_is_refused_politely(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel)
    await conv.handle(inbound(None, "", "sticker", refusal="common.media_not_expected"))
    assert channel.texts == [app.text("common.media_not_expected", "ru")]
    assert await app.store.load_state("c-1") is None, "no engine turn"


async def test_a_flooding_buyer_is_asked_once_to_slow_down(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel, limiter=RateLimiter(3))
    for i in range(6):
        await conv.handle(inbound(Text(f"привет {i}"), f"привет {i}"))
    assert len(channel.replies) == 3
    assert channel.texts == [app.text("common.slow_down", "ru")]
    assert len(await app.store.transcript("c-1")) >= 6, "every message is kept"


async def test_a_failure_answers_the_internal_error_text(app: App, channel: RecordingChannel):
    class Broken:
        store, text, language = app.store, app.text, app.language

        async def handle(self, *args: Any, **kw: Any) -> Reply:
            raise RuntimeError("boom")

    conv = Conversation(Broken(), channel)  # type: ignore[arg-type]
    assert await conv.handle(inbound(Text("привет"), "привет")) is None
    assert channel.texts == [app.text("system.internal_error", "ru")]


async def test_an_edit_outside_a_handoff_is_not_answered_again(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel)
    assert await conv.handle(inbound(Text("где мой заказ"), "где мой заказ", ref=SourceRef("c-1", 5, 1.0))) is None
    assert channel.replies == [] and channel.texts == []


async def test_media_goes_to_the_engine(app: App, channel: RecordingChannel):
    conv = Conversation(app, channel)
    reply = await conv.handle(inbound(Media("photo", "f1", 10), "f1", "photo"))
    assert reply is not None and channel.replies, "a photo outside a return flow is answered by the engine"


def test_rate_limiter_window():
    limiter = RateLimiter(2, window=10)
    assert [limiter.check("a", t) for t in (0, 1, 2, 3)] == [ALLOW, ALLOW, WARN, DROP]
    assert limiter.check("b", 3) == ALLOW, "per buyer"
    assert limiter.check("a", 10.5) == ALLOW, "the window slides"
    assert RateLimiter(0).check("a", 0) == ALLOW, "0 = no limit"
