"""Who owns a buyer's conversation: a handoff opens a session (a topic with the context card, the
buyer told their place in the queue), an agent's /close or the buyer's /bot ends it, and a session
nobody answered is announced again. The buyer's topic is recreated when an agent deleted it."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.engine.effects import Handoff
from bot.engine.events import Buyer
from bot.engine.state import ConversationState
from bot.handoff.card import BuyerInfo
from bot.handoff.desk import Desk
from bot.handoff.records import CLOSED, LEFT, TO_BUYER, TO_GROUP, TO_TOPIC, Relay, Session
from bot.handoff.topics import CLOSED as CLOSED_ICON
from bot.handoff.topics import WAITING, TopicRateLimited

log = logging.getLogger(__name__)
RATING_PREFIX = "ho:r:"  # a buyer's 1-5 rating of a closed case: ho:r:<session>:<stars>


class Sessions:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._recreating: dict[str, asyncio.Lock] = {}
        self._known: dict[str, BuyerInfo] = {}  # buyers whose topic is still to be created
        desk.outbox.on_thread_missing = self.recreate_topic
        desk.outbox.on_failed = self.report_failure

    async def is_active(self, chat_id: str) -> bool:
        records = self.desk.records
        return await records.is_blocked(chat_id) or await records.open_session(chat_id) is not None

    # ---- opening ------------------------------------------------------------------------------
    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        d = self.desk
        if await d.records.is_blocked(chat_id):
            return
        lang = state.lang or d.settings.default_lang
        if await d.records.open_session(chat_id) is not None:
            return  # already with the agents (a double tap); nothing new to announce
        info = await self._fetch_buyer(chat_id, buyer, lang)
        order = state.order_model()
        order_number = order.order_number if order else str(state.vars.get("order_number") or "")
        topic = await d.records.topic(chat_id)
        try:
            if topic is None:
                topic = await d.topics.create(chat_id, info.name, info.username, lang, order_number)
            else:
                topic = await d.topics.update(topic, icon=WAITING, name=info.name, lang=lang,
                                              order_number=order_number, username=info.username)
        except TopicRateLimited as exc:
            await self._refuse(chat_id, info, lang, exc)
            return
        except TelegramError as exc:  # the card's relay creates the topic when Telegram answers again
            log.warning("creating topic for %s: %s", chat_id, exc)
            self._known[chat_id] = info
        session_id = await d.records.add_session(chat_id, handoff.flow_id, handoff.node_id, handoff.reason, d.now())
        returning = await d.records.session_count(chat_id) > 1
        card = await self.context_card(chat_id, state, handoff.reason, handoff.flow_id, handoff.node_id,
                                       info=info, returning=returning)
        await d.send(f"card:{session_id}", chat_id, TO_TOPIC, card, html_mode=True, session_id=session_id)
        now = d.clock.now()
        if d.hours.is_open(now):
            ahead = await d.records.queue_position(session_id) - 1
            text = d.buyer_text("handoff.queued", lang, ahead) if ahead else d.buyer_text("handoff.queued_first", lang)
        else:
            text = d.buyer_text("handoff.after_hours", lang, opens=d.hours.next_opening(now))
        await d.send(f"queue:{session_id}", chat_id, TO_BUYER, text, session_id=session_id)
        await d.outbox.flush(chat_id)

    async def _refuse(self, chat_id: str, info: BuyerInfo, lang: str, exc: TopicRateLimited) -> None:
        """Too many topics: the buyer is told agents are busy; agents learn someone was turned away."""
        d = self.desk
        log.warning("handoff refused for %s: %s", chat_id, exc)
        await d.send(f"busy:{chat_id}:{int(d.now())}", chat_id, TO_BUYER, d.buyer_text("handoff.busy", lang))
        if exc.scope == "group":  # once an hour per buyer
            await d.send(f"limit:{chat_id}:{int(d.now() // 3600)}", chat_id, TO_GROUP,
                         d.texts.t("agent_card.topic_limit", name=info.name or "—", id=chat_id), html_mode=True)
        await d.outbox.flush(chat_id)

    async def _fetch_buyer(self, chat_id: str, buyer: Buyer, lang: str) -> BuyerInfo:
        d = self.desk
        name, username = buyer.name, ""
        try:
            chat = await d.bot.get_chat(int(chat_id))
            username = chat.username or ""
            name = name or " ".join(p for p in (chat.first_name, chat.last_name) if p)
        except (TelegramError, ValueError) as exc:
            log.info("reading buyer %s: %s", chat_id, exc)
            known = await d.records.topic(chat_id)
            username = known.username if known else ""
        return BuyerInfo(chat_id, name, username, lang)

    async def context_card(self, chat_id: str, state: ConversationState | None, reason: str, flow_id: str,
                           node_id: str, *, info: BuyerInfo | None = None, returning: bool = False) -> str:
        d = self.desk
        transcript = await d.app.store.transcript(chat_id, limit=40)
        return d.texts.context_card(info or await d.buyer_info(chat_id), state, reason, flow_id, node_id,
                                    transcript, d.clock.now(), on_duty=d.on_duty, returning=returning)

    # ---- closing ------------------------------------------------------------------------------
    async def buyer_left(self, chat_id: str) -> None:
        d = self.desk
        session = await d.records.open_session(chat_id)
        if session is None or await d.records.is_blocked(chat_id):
            return
        # the notice is queued first (idempotent by key), then the session ends: a kill between the
        # two leaves the session open, and the /bot replayed at start-up does both; the other way
        # round the replay found no session and the agents never heard that the buyer left
        await d.send(f"left:{session.id}", chat_id, TO_TOPIC, "↩️ " + d.texts.t("agent_card.buyer_left"),
                     html_mode=True, session_id=session.id)
        await d.records.end_session(session.id, LEFT, d.now(), by="buyer")
        await d.topics.set_icon(chat_id, CLOSED_ICON)
        await d.outbox.flush(chat_id)

    async def close(self, chat_id: str, session: Session, by: str) -> None:
        """An agent closed the case: the bot takes over and asks the buyer for a 1-5 rating."""
        d = self.desk
        lang = await d.buyer_lang(chat_id)
        # queued before the session ends, as in buyer_left: a /close replayed after a kill between
        # the two finds the session still open and completes it (never "no open case", buyer untold)
        await d.send(f"resumed:{session.id}", chat_id, TO_BUYER, d.buyer_text("common.bot_resumed", lang))
        stars = [[[str(n) + "⭐", f"{RATING_PREFIX}{session.id}:{n}"] for n in range(1, 6)]]
        await d.send(f"rate:{session.id}", chat_id, TO_BUYER, d.buyer_text("handoff.rate_prompt", lang), buttons=stars)
        await d.records.end_session(session.id, CLOSED, d.now(), by=by)
        await d.topics.set_icon(chat_id, CLOSED_ICON)
        await d.outbox.flush(chat_id)

    async def rated(self, query: Any, session_id: int, rating: int) -> bool:
        """The buyer pressed a star. False when the press is not theirs to make."""
        d = self.desk
        chat_id = str(query.message.chat.id)
        if not 1 <= rating <= 5 or str(query.from_user.id) != chat_id:
            return False
        if not await d.records.rate(session_id, chat_id, rating):
            return False
        lang = await d.buyer_lang(chat_id)
        try:
            await query.answer()
            await query.edit_message_text(d.buyer_text("handoff.rate_thanks", lang, rating=rating))
        except TelegramError as exc:
            log.info("rating message: %s", exc)
        await d.send(f"rated:{session_id}", chat_id, TO_TOPIC, "⭐ " + d.texts.t("agent_card.rated", rating=rating),
                     html_mode=True)
        await d.outbox.flush(chat_id)
        return True

    # ---- waiting too long ---------------------------------------------------------------------
    async def check_unanswered(self) -> list[int]:
        """Re-announce handoffs nobody answered for `handoff_reply_timeout_minutes` (working hours only)."""
        d = self.desk
        now = d.clock.now()
        opening = d.hours.current_opening(now)
        if opening is None:
            return []
        limit = d.settings.handoff_reply_timeout_minutes * 60
        done: list[int] = []
        for s in await d.records.unanswered():
            since = max(s.announced_at or s.started_at, opening.timestamp())
            if now.timestamp() - since < limit:
                continue
            waited = int((now.timestamp() - s.started_at) // 60)
            text = "⏰ " + d.texts.t("agent_card.reannounce", waited)
            if d.on_duty:
                text += "\n" + " ".join(html.escape(u) for u in d.on_duty)
            await d.send(f"again:{s.id}:{int(now.timestamp())}", s.chat_id, TO_TOPIC, text, html_mode=True,
                         session_id=s.id)
            await d.records.mark_announced(s.id, now.timestamp())
            done.append(s.id)
        if done:
            await d.outbox.flush()
        return done

    # ---- the outbox's troubles ----------------------------------------------------------------
    async def recreate_topic(self, chat_id: str) -> int | None:
        """The buyer's topic is gone (deleted by an agent): a new one, the card again, then the message."""
        d = self.desk
        lock = self._recreating.setdefault(chat_id, asyncio.Lock())
        async with lock:
            old = await d.records.topic(chat_id)
            info = await d.buyer_info(chat_id) if old else self._known.pop(chat_id, BuyerInfo(chat_id))
            state = await d.state(chat_id)
            session = await d.records.open_session(chat_id) or await d.records.last_session(chat_id)
            lang = info.lang or (state.lang if state else "") or ""
            order = state.order_model() if state else None
            number = old.order_number if old else (order.order_number if order else "")
            try:
                topic = await d.topics.create(chat_id, info.name, info.username, lang, number)
            except TopicRateLimited as exc:
                log.warning("cannot recreate topic for %s: %s", chat_id, exc)
                return None
            if old is None:  # never created (Telegram failed at handoff time): the queued card follows
                return topic.thread_id
            card = await self.context_card(chat_id, state, session.reason if session else "",
                                           session.flow_id if session else "", session.node_id if session else "",
                                           info=info)
            card = "♻️ <i>" + d.texts.t("agent_card.recreated") + "</i>\n\n" + card
            bot: Bot = d.bot
            await bot.send_message(d.group_id, card[:4096], message_thread_id=topic.thread_id,
                                   parse_mode=ParseMode.HTML)
            return topic.thread_id

    async def report_failure(self, relay: Relay, error: str) -> None:
        if relay.direction == TO_BUYER:
            text = "⚠️ " + self.desk.texts.t("agent_card.delivery_failed", error=error)
            await self.desk.send(f"fail:{relay.id}", relay.chat_id, TO_TOPIC, text, html_mode=True)
