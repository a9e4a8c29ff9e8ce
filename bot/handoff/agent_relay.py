"""Agents -> buyer: what an agent writes (or edits) in a buyer's topic reaches the buyer as the bot.

Every message goes through the outbox (idempotent per source message) and into the conversation
store's transcript, so the buyer's /history and the agents' /history hold it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from telegram import Message

from bot.handoff.message_info import author_of, kind_of, summary_of
from bot.handoff.records import TO_BUYER
from bot.handoff.topics import TALKING

if TYPE_CHECKING:
    from bot.handoff.service import TelegramHandoff


async def relay_agent(h: "TelegramHandoff", chat_id: str, message: Message) -> None:
    session = await h.records.open_session(chat_id)
    now = h.now()
    if session is None:  # an agent writes first (follow-up): the agents own the conversation again
        session_id = await h.records.add_session(chat_id, "", "", "agent_followup", now)
        await h.topics.set_icon(chat_id, TALKING)
    else:
        session_id = session.id
    if await h.records.mark_first_reply(session_id, now) and session is not None:
        await h.topics.set_icon(chat_id, TALKING)
    key = f"a:{message.chat.id}:{message.message_id}"
    sig = h.signature(message.from_user)
    payload: dict[str, Any] = {"summary": summary_of(message), "agent": author_of(message.from_user)}
    answered = await h.answered(message, h.group_id)
    if answered is not None:
        payload["reply_to"] = answered
    if sig and message.text is not None:
        payload["text"] = f"{message.text}\n\n{sig}"
        await h.records.enqueue(key, chat_id, TO_BUYER, "send", payload, now, session_id=session_id,
                                src_chat=message.chat.id, src_message_id=message.message_id)
    else:
        if sig and kind_of(message) not in ("sticker", "video_note", "location", "contact"):
            payload["caption"] = f"{message.caption}\n\n{sig}" if message.caption else sig
        await h.records.enqueue(key, chat_id, TO_BUYER, "copy", payload, now, session_id=session_id,
                                src_chat=message.chat.id, src_message_id=message.message_id)
    await h.app.store.add_agent_message(chat_id, kind_of(message), payload["summary"], {"agent": payload["agent"]})
    await h.outbox.flush(chat_id)


async def relay_agent_edit(h: "TelegramHandoff", chat_id: str, message: Message) -> None:
    src = f"a:{message.chat.id}:{message.message_id}"
    if await h.records.relay(src) is None:
        return
    sig = h.signature(message.from_user)
    body = message.text if message.text is not None else (message.caption or "")
    if sig:
        body = f"{body}\n\n{sig}" if body else sig
    stamp = int(message.edit_date.timestamp()) if message.edit_date else int(time.time())
    op = "edit" if message.text is not None else "edit_caption"
    await h.records.enqueue(f"ae:{message.chat.id}:{message.message_id}:{stamp}", chat_id, TO_BUYER, op,
                            {"of": src, "text": body}, h.now())
    await h.outbox.flush(chat_id)
