"""The relay outbox: every message between a buyer and the agents' group goes through here.

A relay is recorded first (`HandoffRecords.enqueue`, unique key per source message, so a repeated
update is never sent twice), then delivered by `Outbox.flush`. A delivery that fails for a passing
reason (network, 5xx, 429) stays pending with a back-off and is retried by the next flush, also
after a restart; one that can never succeed (the buyer blocked the bot, a bad request) is marked
failed and reported to the agents. Relays to one place leave in the order they were recorded.

A topic deleted by an agent answers "message thread not found": the outbox asks the service to
recreate it (`on_thread_missing`, which reposts the context card) and sends again.

Ops: `copy` (copyMessage of the source message), `send` (a text, optional inline buttons),
`edit` / `edit_caption` (mirror an edit onto the copy made by the relay `payload["of"]`).
Directions: `to_topic` (the buyer's topic), `to_buyer`, `to_group` (the group's General topic).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.engine.ports import Clock
from bot.handoff.records import FAILED, SENT, TO_BUYER, TO_GROUP, TO_TOPIC, HandoffRecords, Relay
from bot.retry import RetryPolicy

log = logging.getLogger(__name__)

ThreadMissing = Callable[[str], Awaitable[int | None]]
Failed = Callable[[Relay, str], Awaitable[None]]
# Delivers a relay to a buyer on another channel than Telegram (e.g. Ozon chat, "oz:<chat>"): returns
# the id of the message sent, if any; raises Permanent when it can never be delivered, anything else
# (network, rate limits) to be retried.
BuyerSender = Callable[[Relay], Awaitable[int | None]]
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# The wait before a failed relay is tried again: 10 s doubling to 15 min, or what flood control asks
# for however long. The records count the tries (`max_attempts`); the wait is stored, not slept.
RELAY_RETRY = RetryPolicy(base=10.0, cap=900.0, max_retry_after=float("inf"))


class NotReady(Exception):
    """The relay waits for another (an edit whose original copy is not sent yet)."""


class Permanent(Exception):
    """The relay can never be delivered."""


def thread_missing(exc: TelegramError) -> bool:
    text = str(exc).lower()
    return "thread not found" in text or "topic_deleted" in text or "topic_id_invalid" in text


def topic_closed(exc: TelegramError) -> bool:
    return "topic_closed" in str(exc).lower()


def markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in buttons])


class Outbox:
    def __init__(self, bot: Bot, records: HandoffRecords, clock: Clock, group_id: int, *, max_attempts: int = 8,
                 on_thread_missing: ThreadMissing | None = None, on_failed: Failed | None = None) -> None:
        self.bot = bot
        self.records = records
        self.clock = clock
        self.group_id = group_id
        self.max_attempts = max_attempts
        self.on_thread_missing = on_thread_missing
        self.on_failed = on_failed
        self._lock = asyncio.Lock()
        self._reported = False
        self.buyer_senders: dict[str, BuyerSender] = {}  # conversation-key prefix -> sender (other channels)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def flush(self, chat_id: str | None = None, *, force: bool = False) -> int:
        """Deliver what is due (everything pending when `force`, as at start-up). Returns how many were sent."""
        sent = 0
        async with self._lock:
            for _ in range(3):  # a failure report queued during a pass goes out in the next one
                self._reported = False
                sent += await self._pass(chat_id, force)
                if not self._reported:
                    break
        return sent

    async def _pass(self, chat_id: str | None, force: bool) -> int:
        sent = 0
        for relay in await self.records.due(None if force else self._now(), chat_id):
            if await self.records.earlier_unsent(relay):
                continue  # keep order: an older relay to the same place is still waiting
            if not await self.records.claim(relay.id):
                continue
            try:
                dest_chat, dest_id = await self._deliver(relay)
            except NotReady:
                await self.records.mark_retry(relay.id, "waiting for the original message", self._now(),
                                              count_attempt=False)
                continue
            except RetryAfter as exc:
                delay = RELAY_RETRY.delay(relay.attempts, exc.retry_after)
                # flood control is a wait, not a failure: the attempt is given back
                await self.records.mark_retry(relay.id, str(exc), self._now() + delay, count_attempt=False)
                break  # flood control covers the whole bot: stop this pass
            except (Permanent, Forbidden, BadRequest) as exc:
                await self._fail(relay, str(exc))
                continue
            except (NetworkError, TelegramError, OSError) as exc:  # 5xx, timeouts, connection errors
                attempts = relay.attempts + 1
                if attempts >= self.max_attempts:
                    await self._fail(relay, str(exc))
                else:
                    await self.records.mark_retry(relay.id, str(exc), self._now() + RELAY_RETRY.delay(relay.attempts))
                continue
            await self.records.mark_sent(relay.id, dest_chat, dest_id, self._now())
            sent += 1
        return sent

    async def _fail(self, relay: Relay, error: str) -> None:
        log.warning("relay %s (%s) failed for good: %s", relay.id, relay.key, error)
        await self.records.mark_failed(relay.id, error)
        self._reported = True
        if self.on_failed is not None:
            try:
                await self.on_failed(relay, error)
            except Exception:  # reporting a failure must not break the flush
                log.exception("reporting failed relay %s", relay.id)

    async def _thread(self, relay: Relay) -> int | None:
        topic = await self.records.topic(relay.chat_id)
        if topic is not None:
            return topic.thread_id
        if self.on_thread_missing is None:
            raise Permanent("no topic for this buyer")
        thread = await self.on_thread_missing(relay.chat_id)
        if thread is None:
            raise NetworkError("topic not available yet")  # rate-limited: try again later
        return thread

    async def _deliver(self, relay: Relay) -> tuple[int, int | None]:
        if relay.direction == TO_TOPIC:
            thread = await self._thread(relay)
            try:
                return self.group_id, await self._call(relay, self.group_id, thread)
            except BadRequest as exc:
                if topic_closed(exc) and thread is not None:
                    await self.bot.reopen_forum_topic(self.group_id, thread)
                elif thread_missing(exc) and self.on_thread_missing is not None:
                    thread = await self.on_thread_missing(relay.chat_id)
                    if thread is None:
                        raise NetworkError("topic not available yet") from exc
                else:
                    raise
                return self.group_id, await self._call(relay, self.group_id, thread)
        if relay.direction == TO_GROUP:
            return self.group_id, await self._call(relay, self.group_id, None)
        if relay.direction == TO_BUYER:
            other = next((f for prefix, f in self.buyer_senders.items() if relay.chat_id.startswith(prefix)), None)
            if other is not None:  # a buyer on another channel: its own sender, its own failures
                try:
                    return 0, await other(relay)
                except Permanent:
                    raise
                except Exception as exc:
                    raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
            chat = int(relay.chat_id)
            return chat, await self._call(relay, chat, None)
        raise Permanent(f"unknown direction {relay.direction}")

    async def _call(self, relay: Relay, chat: int, thread: int | None) -> int | None:
        p: dict[str, Any] = relay.payload
        kwargs: dict[str, Any] = {}
        if p.get("reply_to"):  # the answer keeps pointing at the message it answers
            kwargs["reply_parameters"] = ReplyParameters(int(p["reply_to"]), allow_sending_without_reply=True)
        if relay.op == "copy":
            if relay.src_chat is None or relay.src_message_id is None:
                raise Permanent("a copy without its source message")
            if "caption" in p:
                kwargs["caption"] = p["caption"]
            mid = await self.bot.copy_message(chat, relay.src_chat, relay.src_message_id, message_thread_id=thread,
                                              **kwargs)
            return mid.message_id
        if relay.op == "send":
            msg = await self.bot.send_message(chat, p["text"], message_thread_id=thread, parse_mode=p.get("parse_mode"),
                                              reply_markup=markup(p.get("buttons")), link_preview_options=NO_PREVIEW,
                                              **kwargs)
            return msg.message_id
        if relay.op in ("edit", "edit_caption"):
            original = await self.records.relay(p["of"])
            if original is None or original.status == FAILED:
                raise Permanent("the edited message was never relayed")
            if original.status != SENT or original.dest_message_id is None:
                raise NotReady()
            try:
                if relay.op == "edit":
                    await self.bot.edit_message_text(p["text"], chat_id=original.dest_chat,
                                                     message_id=original.dest_message_id)
                else:
                    await self.bot.edit_message_caption(chat_id=original.dest_chat, message_id=original.dest_message_id,
                                                        caption=p["text"])
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    raise
            return original.dest_message_id
        raise Permanent(f"unknown op {relay.op}")
