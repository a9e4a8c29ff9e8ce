"""Requests flows pass to the shop's staff (urge, cancel, return, compensation, ...): a notice in
the General topic with the order card and buttons. "Seen" tells the buyer staff have seen it; for
requests that have a result, "Done" and "Declined" (with a reason) close the loop: the outcome is
recorded (`ozonbot stats` counts requests by state) and the buyer is told it in their language."""

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
from bot.handoff.outbox import markup
from bot.handoff.records import DECLINED, DONE, TO_BUYER, TO_GROUP

log = logging.getLogger(__name__)
SEEN_PREFIX = "ho:s:"  # an agent saw a notice: ho:s:<notice>
OUTCOME_PREFIX = "ho:o:"  # ho:o:<notice>:done | :no (show reasons) | :no:<reason> | :back
# Requests whose result the buyer waits for: they get "Done" / "Declined".
OUTCOME_ACTIONS = frozenset({"urge_seller", "request_cancellation", "offer_compensation", "open_return"})
# Why staff may decline each request, as the buyer is told it (handoff.decline_reason.<code>).
DECLINE_REASONS: dict[str, tuple[str, ...]] = {
    "urge_seller": ("will_write",),
    "request_cancellation": ("shipped", "rules", "will_write"),
    "offer_compensation": ("no_compensation", "will_write"),
    "open_return": ("not_returnable", "will_write"),
}
# Alerts for staff only: the buyer who set one off (maybe the one guessing) is never told of it.
STAFF_ONLY = frozenset({"owner_guessing"})


class Notices:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def keyboard(self, notice_id: int, action: str, *, seen: bool, declining: bool = False) -> list[list[list[str]]]:
        t = self.desk.texts.t
        rows: list[list[list[str]]] = []
        if not seen:
            rows.append([[t("agent_card.seen_button"), f"{SEEN_PREFIX}{notice_id}"]])
        if action in OUTCOME_ACTIONS:
            if declining:
                rows += [[[t(f"agent_card.decline.{code}"), f"{OUTCOME_PREFIX}{notice_id}:no:{code}"]]
                         for code in DECLINE_REASONS[action]]
                rows.append([[t("agent_card.back_button"), f"{OUTCOME_PREFIX}{notice_id}:back"]])
            else:
                rows.append([[t("agent_card.done_button"), f"{OUTCOME_PREFIX}{notice_id}:done"],
                             [t("agent_card.declined_button"), f"{OUTCOME_PREFIX}{notice_id}:no"]])
        return rows

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
        buttons = self.keyboard(notice_id, action.name, seen=False)
        await d.send(f"notice:{notice_id}", chat_id, TO_GROUP, text, html_mode=True, buttons=buttons)
        await d.outbox.flush(chat_id)

    async def _allowed(self, query: Any) -> bool:
        d = self.desk
        return bool(query.message.chat.id == d.group_id and await d.is_member(query.from_user.id))

    async def _edit(self, query: Any, notice: dict[str, Any], text_extra: str | None,
                    buttons: list[list[list[str]]]) -> None:
        """Show the notice's new state in the group: a line appended (text_extra), the buttons left."""
        d = self.desk
        relay = await d.records.relay(f"notice:{notice['id']}")
        try:
            await query.answer()
            if relay is None or not relay.dest_message_id:
                return
            if text_extra is None:
                await d.bot.edit_message_reply_markup(chat_id=d.group_id, message_id=relay.dest_message_id,
                                                      reply_markup=markup(buttons))
                return
            text = query.message.text_html if getattr(query.message, "text", None) else relay.payload["text"]
            await d.bot.edit_message_text(text + "\n" + text_extra, chat_id=d.group_id,
                                          message_id=relay.dest_message_id, parse_mode=ParseMode.HTML,
                                          reply_markup=markup(buttons))
        except TelegramError as exc:
            log.info("updating notice %s: %s", notice["id"], exc)

    async def seen(self, query: Any, notice_id: int) -> bool:
        """An agent pressed "Seen". False when the press is not theirs to make."""
        d = self.desk
        if not await self._allowed(query):
            return False
        notice = await d.records.notice(notice_id)
        if notice is None or not await d.records.mark_seen(notice_id, author_of(query.from_user), d.now()):
            return False
        chat_id = notice["chat_id"]
        left = [] if notice["outcome"] else self.keyboard(notice_id, notice["action"], seen=True)
        seen_line = "\n👀 " + d.texts.t("agent_card.seen_by", agent=author_of(query.from_user))
        await self._edit(query, notice, seen_line, left)
        if notice["outcome"] or notice["action"] in STAFF_ONLY:
            return True  # the buyer already has the outcome, or the alert was never theirs to know
        lang = await d.buyer_lang(chat_id)
        action = d.buyer_text(f"handoff.action.{notice['action']}", lang)
        await d.send(f"seen:{notice_id}", chat_id, TO_BUYER, d.buyer_text("handoff.action_seen", lang, action=action))
        await d.outbox.flush(chat_id)
        return True

    async def outcome(self, query: Any, data: str) -> bool:
        """An agent pressed "Done", "Declined" (then a reason) or "Back" on a notice."""
        d = self.desk
        if not await self._allowed(query):
            return False
        nid, _, rest = data.partition(":")
        notice = await d.records.notice(int(nid))
        if notice is None or notice["outcome"] or notice["action"] not in OUTCOME_ACTIONS:
            return False
        seen = notice["seen_at"] is not None
        if rest in ("no", "back"):
            await self._edit(query, notice, None, self.keyboard(notice["id"], notice["action"], seen=seen,
                                                                 declining=rest == "no"))
            return True
        if rest == "done":
            outcome, reason = DONE, ""
        elif rest.startswith("no:") and rest[3:] in DECLINE_REASONS[notice["action"]]:
            outcome, reason = DECLINED, rest[3:]
        else:
            return False
        agent = author_of(query.from_user)
        if not await d.records.set_outcome(notice["id"], outcome, reason, agent, d.now()):
            return False
        if outcome == DONE:
            line = "✅ " + d.texts.t("agent_card.done_by", agent=agent)
        else:
            why = d.texts.t(f"agent_card.decline.{reason}")
            line = "❌ " + d.texts.t("agent_card.declined_by", agent=agent, reason=why)
        await self._edit(query, notice, "\n" + line, [])
        chat_id = notice["chat_id"]
        lang = await d.buyer_lang(chat_id)
        posting = str(notice["args"].get("posting") or "")
        if outcome == DONE:
            text = d.buyer_text(f"handoff.outcome_done.{notice['action']}", lang, posting=posting)
        else:
            action = d.buyer_text(f"handoff.action.{notice['action']}", lang)
            text = d.buyer_text("handoff.outcome_declined", lang, action=action, posting=posting,
                                reason=d.buyer_text(f"handoff.decline_reason.{reason}", lang))
        await d.send(f"outcome:{notice['id']}", chat_id, TO_BUYER, text)
        await d.outbox.flush(chat_id)
        return True
