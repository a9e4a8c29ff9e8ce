"""The handoff's own buttons: buyers rate a closed case (ho:r:<session>:<1-5>), agents mark a
flow's request as seen (ho:s:<notice>), which tells the buyer staff have seen it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.handoff.message_info import author_of
from bot.handoff.records import TO_BUYER, TO_TOPIC

if TYPE_CHECKING:
    from bot.handoff.service import TelegramHandoff

log = logging.getLogger(__name__)
CALLBACK_PREFIX = "ho:"  # callback data of the handoff's own buttons: ho:r:<session>:<1-5>, ho:s:<notice>


async def handle_callback(h: "TelegramHandoff", update: Update) -> bool:
    query = update.callback_query
    data = (query.data or "") if query else ""
    if not data.startswith(CALLBACK_PREFIX):
        return False
    parts = data[len(CALLBACK_PREFIX):].split(":")
    answered = False
    try:
        if parts[0] == "r" and len(parts) == 3 and query.message is not None:
            answered = await rated(h, query, int(parts[1]), int(parts[2]))
        elif parts[0] == "s" and len(parts) == 2 and query.message is not None:
            answered = await seen(h, query, int(parts[1]))
    except ValueError:
        pass
    if not answered:
        try:
            await query.answer()
        except TelegramError:
            pass
    return True


async def rated(h: "TelegramHandoff", query: Any, session_id: int, rating: int) -> bool:
    chat_id = str(query.message.chat.id)
    if not 1 <= rating <= 5 or str(query.from_user.id) != chat_id:
        return False
    if not await h.records.rate(session_id, chat_id, rating):
        return False
    lang = await h._buyer_lang(chat_id)
    try:
        await query.answer()
        await query.edit_message_text(h._buyer_text("handoff.rate_thanks", lang, rating=rating))
    except TelegramError as exc:
        log.info("rating message: %s", exc)
    await h._send(f"rated:{session_id}", chat_id, TO_TOPIC, "⭐ " + h.texts.t("agent_card.rated", rating=rating),
               html_mode=True)
    await h.outbox.flush(chat_id)
    return True


async def seen(h: "TelegramHandoff", query: Any, notice_id: int) -> bool:
    if query.message.chat.id != h.group_id or not await h.is_member(query.from_user.id):
        return False
    notice = await h.records.notice(notice_id)
    if notice is None or not await h.records.mark_seen(notice_id, author_of(query.from_user), h.now()):
        return False
    chat_id = notice["chat_id"]
    relay = await h.records.relay(f"notice:{notice_id}")
    try:
        await query.answer()
        if relay is not None and relay.dest_message_id:
            text = relay.payload["text"] + "\n\n👀 " + h.texts.t("agent_card.seen_by", agent=author_of(query.from_user))
            await h.bot.edit_message_text(text, chat_id=h.group_id, message_id=relay.dest_message_id,
                                             parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        log.info("marking notice %s seen: %s", notice_id, exc)
    lang = await h._buyer_lang(chat_id)
    action = h._buyer_text(f"handoff.action.{notice['action']}", lang)
    await h._send(f"seen:{notice_id}", chat_id, TO_BUYER, h._buyer_text("handoff.action_seen", lang, action=action))
    await h.outbox.flush(chat_id)
    return True
