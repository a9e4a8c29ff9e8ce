"""Messages copied both ways between a buyer and their topic, as the bot.

Buyer -> topic: what the buyer sends while an agent owns the conversation (edits mirrored).
Topic -> buyer: what an agent writes (or edits) in the buyer's topic, optionally signed.
Every relay goes through the outbox (idempotent per source message) and agents' messages into the
conversation store's transcript, so the buyer's /history and the agents' /history hold them.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from telegram import Message

from bot.conversation.io import Inbound
from bot.handoff.desk import Desk
from bot.handoff.message_info import author_of, kind_of, summary_of
from bot.handoff.records import TO_BUYER, TO_TOPIC
from bot.handoff.topics import TALKING

log = logging.getLogger(__name__)
UNSIGNABLE = ("sticker", "video_note", "location", "contact")  # copies that take no caption


class Relay:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # ---- buyer -> topic -----------------------------------------------------------------------
    async def from_buyer(self, chat_id: str, inbound: Inbound) -> None:
        d = self.desk
        if await d.records.is_blocked(chat_id):
            return
        session = await d.records.open_session(chat_id)
        ref = inbound.ref
        if session is None or ref is None:
            return
        if str(ref.chat) != str(chat_id):
            log.warning("refusing to relay a message of chat %s as buyer %s", ref.chat, chat_id)
            return
        src = f"b:{ref.chat}:{ref.message_id}"
        if not _telegram_chat(ref.chat):  # another channel (Ozon chat): nothing to copy, its text is sent
            await self._text_from_buyer(chat_id, inbound, src, session.id)
            return
        if ref.edited_at is not None:
            if await d.records.relay(src) is not None:
                op = "edit" if inbound.kind in ("text", "command") else "edit_caption"
                await d.records.enqueue(f"be:{ref.chat}:{ref.message_id}:{int(ref.edited_at)}", chat_id, TO_TOPIC,
                                        op, {"of": src, "text": inbound.text}, d.now(), session_id=session.id)
        else:
            payload: dict[str, Any] = {"summary": inbound.summary or inbound.text}
            answered = await d.original_of(int(ref.chat), ref.reply_to)
            if answered is not None:
                payload["reply_to"] = answered
            await d.records.enqueue(src, chat_id, TO_TOPIC, "copy", payload, d.now(), session_id=session.id,
                                    src_chat=int(ref.chat), src_message_id=ref.message_id)
        await d.outbox.flush(chat_id)

    async def _text_from_buyer(self, chat_id: str, inbound: Inbound, src: str, session_id: int) -> None:
        """A buyer on a channel whose messages Telegram cannot copy: their text, sent to the topic."""
        d = self.desk
        ref = inbound.ref
        assert ref is not None
        text = html.escape(inbound.summary or inbound.text or f"[{inbound.kind}]", quote=False)
        if ref.edited_at is not None and await d.records.relay(src) is not None:
            await d.records.enqueue(f"be:{ref.chat}:{ref.message_id}:{int(ref.edited_at)}", chat_id, TO_TOPIC,
                                    "edit", {"of": src, "text": inbound.text}, d.now(), session_id=session_id)
        elif ref.edited_at is None:
            await d.records.enqueue(src, chat_id, TO_TOPIC, "send", {"text": text, "parse_mode": "HTML",
                                                                      "summary": inbound.summary or inbound.text},
                                    d.now(), session_id=session_id)
        await d.outbox.flush(chat_id)

    # ---- topic -> buyer -----------------------------------------------------------------------
    async def from_agent(self, chat_id: str, message: Message) -> None:
        d = self.desk
        session = await d.records.open_session(chat_id)
        now = d.now()
        if session is None:  # an agent writes first (follow-up): the agents own the conversation again
            session_id = await d.records.add_session(chat_id, "", "", "agent_followup", now)
            await d.topics.set_icon(chat_id, TALKING)
        else:
            session_id = session.id
        if await d.records.mark_first_reply(session_id, now) and session is not None:
            await d.topics.set_icon(chat_id, TALKING)
        key = f"a:{message.chat.id}:{message.message_id}"
        sig = d.signature(message.from_user)
        payload: dict[str, Any] = {"summary": summary_of(message), "agent": author_of(message.from_user),
                                   "kind": kind_of(message)}
        answered = await self._answered(message)
        if answered is not None:
            payload["reply_to"] = answered
        if sig and message.text is not None:
            payload["text"] = f"{message.text}\n\n{sig}"
            await d.records.enqueue(key, chat_id, TO_BUYER, "send", payload, now, session_id=session_id,
                                    src_chat=message.chat.id, src_message_id=message.message_id)
        else:
            if sig and kind_of(message) not in UNSIGNABLE:
                payload["caption"] = f"{message.caption}\n\n{sig}" if message.caption else sig
            await d.records.enqueue(key, chat_id, TO_BUYER, "copy", payload, now, session_id=session_id,
                                    src_chat=message.chat.id, src_message_id=message.message_id)
        await d.app.store.add_agent_message(chat_id, kind_of(message), payload["summary"], {"agent": payload["agent"]})
        await d.outbox.flush(chat_id)

    async def agent_edit(self, chat_id: str, message: Message) -> None:
        d = self.desk
        src = f"a:{message.chat.id}:{message.message_id}"
        if await d.records.relay(src) is None:
            return
        sig = d.signature(message.from_user)
        body = message.text if message.text is not None else (message.caption or "")
        if sig:
            body = f"{body}\n\n{sig}" if body else sig
        stamp = int(message.edit_date.timestamp()) if message.edit_date else int(time.time())
        op = "edit" if message.text is not None else "edit_caption"
        await d.records.enqueue(f"ae:{message.chat.id}:{message.message_id}:{stamp}", chat_id, TO_BUYER, op,
                                {"of": src, "text": body}, d.now())
        await d.outbox.flush(chat_id)

    async def _answered(self, message: Message) -> int | None:
        """When an agent's message replies to a relayed copy, the id of the buyer's original."""
        target = message.reply_to_message
        if target is None or target.forum_topic_created is not None:
            return None  # in a topic, a plain message "replies" to the topic's first message
        return await self.desk.original_of(self.desk.group_id, target.message_id)


def _telegram_chat(chat: int | str) -> bool:
    """Telegram chat ids are integers; other channels' conversation keys carry a prefix ("oz:...")."""
    return isinstance(chat, int) or str(chat).lstrip("-").isdigit()
