"""Requests flows pass to the shop's staff (urge, cancel, return, ...): a notice in the General
topic with the order card and a "Seen" button; pressing it tells the buyer staff have seen it."""

from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.engine.effects import Action
from bot.engine.events import Buyer
from bot.engine.state import ConversationState
from bot.handoff.card import BuyerInfo
from bot.handoff.desk import Desk
from bot.handoff.message_info import author_of
from bot.handoff.records import TO_BUYER, TO_GROUP

log = logging.getLogger(__name__)
SEEN_PREFIX = "ho:s:"  # an agent saw a notice: ho:s:<notice>
# Alerts for staff only: the buyer who set one off (maybe the one guessing) is never told of it.
STAFF_ONLY = frozenset({"owner_guessing"})


class Notices:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def notify(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        d = self.desk
        if await d.records.is_blocked(chat_id):
            return
        notice_id = await d.records.add_notice(chat_id, action.name, dict(action.args), d.now())
        known = await d.records.topic(chat_id)
        info = await d.buyer_info(chat_id) if known else BuyerInfo(chat_id, buyer.name, "", state.lang or "")
        link = ""
        if known:
            internal = str(d.group_id).removeprefix("-100")
            link = f'<a href="https://t.me/c/{internal}/{known.thread_id}">#{known.thread_id}</a>'
        text = d.texts.action_notice(action.name, dict(action.args), info, state.order_model(), d.clock.now(), link)
        seen = [[[d.texts.t("agent_card.seen_button"), f"{SEEN_PREFIX}{notice_id}"]]]
        await d.send(f"notice:{notice_id}", chat_id, TO_GROUP, text, html_mode=True, buttons=seen)
        await d.outbox.flush(chat_id)

    async def seen(self, query: Any, notice_id: int) -> bool:
        """An agent pressed "Seen". False when the press is not theirs to make."""
        d = self.desk
        if query.message.chat.id != d.group_id or not await d.is_member(query.from_user.id):
            return False
        notice = await d.records.notice(notice_id)
        if notice is None or not await d.records.mark_seen(notice_id, author_of(query.from_user), d.now()):
            return False
        chat_id = notice["chat_id"]
        relay = await d.records.relay(f"notice:{notice_id}")
        staff_only = notice["action"] in STAFF_ONLY
        try:
            await query.answer()
            if relay is not None and relay.dest_message_id:
                text = relay.payload["text"] + "\n\n👀 " + d.texts.t("agent_card.seen_by",
                                                                    agent=author_of(query.from_user))
                await d.bot.edit_message_text(text, chat_id=d.group_id, message_id=relay.dest_message_id,
                                              parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.info("marking notice %s seen: %s", notice_id, exc)
        if staff_only:
            return True
        lang = await d.buyer_lang(chat_id)
        action = d.buyer_text(f"handoff.action.{notice['action']}", lang)
        await d.send(f"seen:{notice_id}", chat_id, TO_BUYER, d.buyer_text("handoff.action_seen", lang, action=action))
        await d.outbox.flush(chat_id)
        return True
