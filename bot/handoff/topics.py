"""One forum topic per buyer: created on the first real handoff, reused afterwards, rate-limited.

Topic names are made for scanning the group's topic list: state icon, buyer's name, language and
order number, e.g. `🟡 Анна П. · RU · 46208137-0007`. Creation counts against the group's budget
(and is what a flood of fake buyers would abuse), so it is limited per buyer and per hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from bot.engine.ports import Clock
from bot.handoff.records import HandoffRecords, Topic

log = logging.getLogger(__name__)

WAITING, TALKING, CLOSED = "🟡", "🟢", "✅"
MAX_NAME = 128  # Telegram's limit for a topic name


@dataclass(frozen=True, slots=True)
class TopicLimits:
    per_buyer_per_day: int = 3
    per_hour: int = 30


class TopicRateLimited(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(f"topic creation limit reached ({scope})")
        self.scope = scope


def topic_name(icon: str, name: str, lang: str, order_number: str, chat_id: str) -> str:
    who = " ".join((name or "").split()) or f"id{chat_id}"
    parts = [who[:60], (lang or "?").upper()]
    if order_number:
        parts.append(order_number)
    return f"{icon} " + " · ".join(parts)[: MAX_NAME - 2]


class Topics:
    def __init__(self, bot: Bot, records: HandoffRecords, clock: Clock, group_id: int, limits: TopicLimits) -> None:
        self.bot = bot
        self.records = records
        self.clock = clock
        self.group_id = group_id
        self.limits = limits

    async def check_limits(self, chat_id: str) -> None:
        now = self.clock.now().timestamp()
        if await self.records.topics_created_since(now - 86400, chat_id) >= self.limits.per_buyer_per_day:
            raise TopicRateLimited("buyer")
        if await self.records.topics_created_since(now - 3600) >= self.limits.per_hour:
            raise TopicRateLimited("group")

    async def create(self, chat_id: str, name: str, username: str, lang: str, order_number: str,
                     icon: str = WAITING) -> Topic:
        """A new topic for this buyer (first handoff, or the old one was deleted). May raise TopicRateLimited."""
        await self.check_limits(chat_id)
        title = topic_name(icon, name, lang, order_number, chat_id)
        forum = await self.bot.create_forum_topic(self.group_id, title)
        topic = Topic(chat_id, forum.message_thread_id, title, name, username, lang, order_number)
        await self.records.save_topic(topic, self.clock.now().timestamp(), created=True)
        log.info("topic %s created for buyer %s", topic.thread_id, chat_id)
        return topic

    async def update(self, topic: Topic, *, icon: str, name: str | None = None, lang: str | None = None,
                     order_number: str | None = None, username: str | None = None) -> Topic:
        """Rename when the state, buyer's name, language or order changed (best effort)."""
        new = Topic(topic.chat_id, topic.thread_id, topic.name, name or topic.buyer_name,
                    username if username is not None else topic.username, lang or topic.lang,
                    order_number or topic.order_number)
        title = topic_name(icon, new.buyer_name, new.lang, new.order_number, topic.chat_id)
        if title != topic.name:
            try:
                await self.bot.edit_forum_topic(self.group_id, topic.thread_id, name=title)
            except TelegramError as exc:  # a deleted topic is recreated on the next send
                log.info("renaming topic %s: %s", topic.thread_id, exc)
                title = topic.name
        new = Topic(new.chat_id, new.thread_id, title, new.buyer_name, new.username, new.lang, new.order_number)
        if new != topic:
            await self.records.save_topic(new, self.clock.now().timestamp(), created=False)
        return new

    async def set_icon(self, chat_id: str, icon: str) -> None:
        topic = await self.records.topic(chat_id)
        if topic is not None:
            await self.update(topic, icon=icon)
