"""`Desk`: what every part of the handoff shares — the agents' group, its records, the outbox and
topics, the agents' texts, the clock — and the small helpers they all use (buyer texts and
language, queueing a relay, answering agents in a topic, group membership).

Sessions, relays, notices, agents' commands and the group router each take the desk; none of them
knows the others except through it (bot/handoff/service.py assembles them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Message, User
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import TelegramError

from bot.engine.events import Buyer
from bot.engine.ports import Clock, SystemClock
from bot.engine.state import ConversationState
from bot.handoff.card import AgentTexts, BuyerInfo
from bot.handoff.outbox import Outbox
from bot.handoff.records import HandoffRecords
from bot.handoff.records_backend import open_records
from bot.handoff.schedule import WorkingHours
from bot.handoff.topics import TopicLimits, Topics
from bot.settings import Settings

log = logging.getLogger(__name__)

MEMBER_TTL = 300.0  # seconds a group-membership check is cached
MEMBER_STATUSES = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}

# Puts a buyer back into a flow and delivers the turn (the conversation service's start_flow).
Resume = Callable[[str, Buyer, str], Awaitable[Any]]


class HandoffSetupError(RuntimeError):
    """The agents' group cannot be used: the message says exactly what to fix."""


class Desk:
    def __init__(self, app: Any, bot: Bot | None, settings: Settings, *, clock: Clock | None = None,
                 records: HandoffRecords | None = None) -> None:
        if settings.agents_chat_id is None:
            raise HandoffSetupError("AGENTS_CHAT_ID is not set: put the agents' forum group id in the settings")
        self.app = app  # the App: store, texts, orders, flows
        self.bot: Bot = bot  # type: ignore[assignment]  # None until bind(), when built before the Application
        self.settings = settings
        self.clock = clock or SystemClock()
        self.group_id = int(settings.agents_chat_id)
        self.records: HandoffRecords = records or open_records(settings)
        self.hours = WorkingHours.parse(settings.handoff_hours, settings.handoff_days, settings.handoff_timezone)
        self.texts = AgentTexts(app.renderer, settings.agents_lang, self.hours.tz)
        self.topics = Topics(self.bot, self.records, self.clock, self.group_id,
                             TopicLimits(settings.handoff_topics_per_buyer_per_day, settings.handoff_topics_per_hour))
        self.outbox = Outbox(self.bot, self.records, self.clock, self.group_id,
                             max_attempts=settings.handoff_max_attempts)
        self._members: dict[int, tuple[bool, float]] = {}

    def bind(self, bot: Bot) -> None:
        """Use this Bot for every call (the Application's, once it exists)."""
        self.bot = self.topics.bot = self.outbox.bot = bot

    # ---- buyers -------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now().timestamp()

    async def state(self, chat_id: str) -> ConversationState | None:
        return await self.app.store.load_state(chat_id)

    async def buyer_lang(self, chat_id: str) -> str:
        state = await self.state(chat_id)
        return (state.lang if state and state.lang else None) or self.settings.default_lang

    def buyer_text(self, msgid: str, lang: str, count: int | None = None, **params: Any) -> str:
        if count is not None:
            params.setdefault("count", count)
        return self.app.text(msgid, lang, params, count)

    async def buyer_info(self, chat_id: str) -> BuyerInfo:
        topic = await self.records.topic(chat_id)
        if topic is None:
            return BuyerInfo(chat_id)
        return BuyerInfo(chat_id, topic.buyer_name, topic.username, topic.lang)

    # ---- agents -------------------------------------------------------------------------------
    @property
    def on_duty(self) -> list[str]:
        names = [n.strip().lstrip("@") for n in self.settings.handoff_on_duty.split(",") if n.strip()]
        return ["@" + n for n in names]

    def signature(self, user: User | None) -> str:
        template = self.settings.handoff_agent_signature
        if not template:
            return ""
        name = user.first_name if user else ""
        try:
            return template.format(name=name)
        except (KeyError, IndexError, ValueError):
            return template

    async def is_member(self, user_id: int) -> bool:
        cached = self._members.get(user_id)
        if cached and time.monotonic() - cached[1] < MEMBER_TTL:
            return cached[0]
        try:
            member = await self.bot.get_chat_member(self.group_id, user_id)
            ok = member.status in MEMBER_STATUSES or (member.status == ChatMemberStatus.RESTRICTED
                                                      and bool(getattr(member, "is_member", False)))
        except TelegramError as exc:
            log.warning("membership of %s: %s", user_id, exc)
            return False
        self._members[user_id] = (ok, time.monotonic())
        return ok

    async def reply_in_topic(self, thread_id: int | None, text: str) -> Message | None:
        """An answer to agents (command results): direct, best effort; never relayed to a buyer."""
        try:
            return await self.bot.send_message(self.group_id, text, message_thread_id=thread_id,
                                               parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.warning("answering agents in thread %s: %s", thread_id, exc)
            return None

    # ---- the outbox ---------------------------------------------------------------------------
    async def send(self, key: str, chat_id: str, direction: str, text: str, *, html_mode: bool = False,
                   buttons: list[list[list[str]]] | None = None, session_id: int | None = None) -> int | None:
        """Queue a text for the buyer, their topic or the General topic (idempotent by `key`)."""
        payload: dict[str, Any] = {"text": text}
        if html_mode:
            payload["parse_mode"] = ParseMode.HTML
        if buttons:
            payload["buttons"] = buttons
        return await self.records.enqueue(key, chat_id, direction, "send", payload, self.now(), session_id=session_id)

    async def original_of(self, chat: int, copy_id: int | None) -> int | None:
        """The id of the original message whose relayed copy in `chat` is `copy_id`."""
        if copy_id is None:
            return None
        relay = await self.records.relay_by_copy(chat, copy_id)
        if relay is not None and relay.src_message_id:
            return relay.src_message_id
        return None
