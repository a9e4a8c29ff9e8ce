"""TelegramHandoff: the HandoffPort for a Telegram forum supergroup of agents.

    handoff = TelegramHandoff(app, bot, settings)
    await handoff.startup()      # check_permissions(), recover and flush the outbox, start the periodic job
    handoff.install(application) # the "ho:" buttons (buyers' ratings, agents' "Seen") in handler group -1
    ...
    await handoff.shutdown()

Where things go:
- each buyer's conversation with agents: their own topic (context card first, then the messages
  copied both ways as the bot);
- notices of actions flows asked for (urge the seller, cancel, return, ...): the General topic,
  with the order card and a "Seen" button that tells the buyer staff have seen it;
- agents' commands in a topic: bot/handoff/commands.py; what agents write: bot/handoff/agent_relay.py;
  the rating and "Seen" buttons: bot/handoff/buttons.py.

Safety: only content from members of the agents' group, in a topic mapped to a buyer, is relayed;
the General topic and unknown topics are ignored; a buyer's message only ever goes to their own
topic (looked up by their chat id). Blocked buyers are ignored entirely.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import Any, Awaitable, Callable

from telegram import Bot, Message, Update, User
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import TelegramError

from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer
from bot.engine.ports import Clock, SystemClock
from bot.conversation.io import Inbound
from bot.engine.state import ConversationState
from bot.handoff import agent_relay, buttons, commands
from bot.handoff.buttons import CALLBACK_PREFIX
from bot.handoff.message_info import kind_of
from bot.handoff.card import AgentTexts, BuyerInfo
from bot.handoff.outbox import Outbox
from bot.handoff.records import (
    CLOSED, LEFT, TO_BUYER, TO_GROUP, TO_TOPIC, HandoffRecords, Relay, Session,
)
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.handoff.schedule import WorkingHours
from bot.handoff.topics import CLOSED as CLOSED_ICON
from bot.handoff.topics import WAITING, TopicLimits, TopicRateLimited, Topics
from bot.settings import Settings

log = logging.getLogger(__name__)

MEMBER_TTL = 300.0  # seconds a group-membership check is cached
MEMBER_STATUSES = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}

# Puts a buyer back into a flow and delivers the turn (the conversation service's start_flow).
Resume = Callable[[str, Buyer, str], Awaitable[Any]]


class HandoffSetupError(RuntimeError):
    """The agents' group cannot be used: the message says exactly what to fix."""


class TelegramHandoff:
    available = True  # agents answer (outside working hours the buyer is told when)
    def __init__(self, app: Any, bot: Bot | None, settings: Settings, *, clock: Clock | None = None,
                 records: HandoffRecords | None = None, resume: Resume | None = None) -> None:
        if settings.agents_chat_id is None:
            raise HandoffSetupError("AGENTS_CHAT_ID is not set: put the agents' forum group id in the settings")
        self.app = app
        self.bot: Bot = bot  # type: ignore[assignment]  # None until install()/bind() when built before the Application
        self.settings = settings
        self.clock = clock or SystemClock()
        self.group_id = int(settings.agents_chat_id)
        self.records: HandoffRecords = records or SqliteHandoffRecords(settings.store_path)
        self.hours = WorkingHours.parse(settings.handoff_hours, settings.handoff_days, settings.handoff_timezone)
        self.texts = AgentTexts(app.renderer, settings.agents_lang, self.hours.tz)
        self.topics = Topics(bot, self.records, self.clock, self.group_id,
                             TopicLimits(settings.handoff_topics_per_buyer_per_day, settings.handoff_topics_per_hour))
        self.outbox = Outbox(bot, self.records, self.clock, self.group_id, max_attempts=settings.handoff_max_attempts,
                             on_thread_missing=self._recreate_topic, on_failed=self._report_failure)
        # How an agent's /flow puts the buyer back into a flow (set by install()).
        self.resume = resume
        self._members: dict[int, tuple[bool, float]] = {}
        self._task: asyncio.Task | None = None
        self._recreating: dict[str, asyncio.Lock] = {}
        self._known: dict[str, BuyerInfo] = {}  # buyers whose topic is still to be created

    # ---- small helpers ------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now().timestamp()

    @property
    def on_duty(self) -> list[str]:
        names = [n.strip().lstrip("@") for n in self.settings.handoff_on_duty.split(",") if n.strip()]
        return ["@" + n for n in names]

    async def _state(self, chat_id: str) -> ConversationState | None:
        return await self.app.store.load_state(chat_id)

    async def _buyer_lang(self, chat_id: str) -> str:
        state = await self._state(chat_id)
        return (state.lang if state and state.lang else None) or self.settings.default_lang

    def _buyer_text(self, msgid: str, lang: str, count: int | None = None, **params: Any) -> str:
        if count is not None:
            params.setdefault("count", count)
        return self.app.renderer.text(msgid, lang, params, count)

    async def buyer_info(self, chat_id: str) -> BuyerInfo:
        topic = await self.records.topic(chat_id)
        if topic is None:
            return BuyerInfo(chat_id)
        return BuyerInfo(chat_id, topic.buyer_name, topic.username, topic.lang)

    async def _send(self, key: str, chat_id: str, direction: str, text: str, *, html_mode: bool = False,
                    buttons: list[list[list[str]]] | None = None, session_id: int | None = None) -> int | None:
        payload: dict[str, Any] = {"text": text}
        if html_mode:
            payload["parse_mode"] = ParseMode.HTML
        if buttons:
            payload["buttons"] = buttons
        return await self.records.enqueue(key, chat_id, direction, "send", payload, self.now(), session_id=session_id)

    async def reply_in_topic(self, thread_id: int | None, text: str) -> Message | None:
        """An answer to agents (command results): direct, best effort; never relayed to a buyer."""
        try:
            return await self.bot.send_message(self.group_id, text, message_thread_id=thread_id,
                                               parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.warning("answering agents in thread %s: %s", thread_id, exc)
            return None

    # ---- the port -----------------------------------------------------------------------------
    async def is_active(self, chat_id: str) -> bool:
        return await self.records.is_blocked(chat_id) or await self.records.open_session(chat_id) is not None

    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        if await self.records.is_blocked(chat_id):
            return
        lang = state.lang or self.settings.default_lang
        if await self.records.open_session(chat_id) is not None:
            return  # already with the agents (a double tap); nothing new to announce
        info = await self._fetch_buyer(chat_id, buyer, lang)
        order = state.order_model()
        order_number = order.order_number if order else str(state.vars.get("order_number") or "")
        topic = await self.records.topic(chat_id)
        try:
            if topic is None:
                topic = await self.topics.create(chat_id, info.name, info.username, lang, order_number)
            else:
                topic = await self.topics.update(topic, icon=WAITING, name=info.name, lang=lang,
                                                 order_number=order_number, username=info.username)
        except TopicRateLimited as exc:
            log.warning("handoff refused for %s: %s", chat_id, exc)
            hour = int(self.now() // 3600)
            await self._send(f"busy:{chat_id}:{int(self.now())}", chat_id, TO_BUYER,
                             self._buyer_text("handoff.busy", lang))
            if exc.scope == "group":  # agents should know someone was turned away (once an hour per buyer)
                await self._send(f"limit:{chat_id}:{hour}", chat_id, TO_GROUP,
                                 self.texts.t("agent_card.topic_limit", name=info.name or "—", id=chat_id),
                                 html_mode=True)
            await self.outbox.flush(chat_id)
            return
        except TelegramError as exc:  # the card's relay creates the topic when Telegram answers again
            log.warning("creating topic for %s: %s", chat_id, exc)
            self._known[chat_id] = info
        session_id = await self.records.add_session(chat_id, handoff.flow_id, handoff.node_id, handoff.reason,
                                                    self.now())
        returning = await self.records.session_count(chat_id) > 1
        card = await self.context_card(chat_id, state, handoff.reason, handoff.flow_id, handoff.node_id,
                                       info=info, returning=returning)
        await self._send(f"card:{session_id}", chat_id, TO_TOPIC, card, html_mode=True, session_id=session_id)
        now = self.clock.now()
        if self.hours.is_open(now):
            ahead = await self.records.queue_position(session_id) - 1
            text = self._buyer_text("handoff.queued", lang, ahead) if ahead else self._buyer_text("handoff.queued_first", lang)
        else:
            text = self._buyer_text("handoff.after_hours", lang, opens=self.hours.next_opening(now))
        await self._send(f"queue:{session_id}", chat_id, TO_BUYER, text, session_id=session_id)
        await self.outbox.flush(chat_id)

    async def relay_from_buyer(self, chat_id: str, inbound: Inbound) -> None:
        if await self.records.is_blocked(chat_id):
            return
        session = await self.records.open_session(chat_id)
        ref = inbound.ref
        if session is None or ref is None:
            return
        if str(ref.chat) != str(chat_id):
            log.warning("refusing to relay a message of chat %s as buyer %s", ref.chat, chat_id)
            return
        src = f"b:{ref.chat}:{ref.message_id}"
        if ref.edited_at is not None:
            if await self.records.relay(src) is not None:
                op = "edit" if inbound.kind in ("text", "command") else "edit_caption"
                await self.records.enqueue(f"be:{ref.chat}:{ref.message_id}:{int(ref.edited_at)}", chat_id, TO_TOPIC, op,
                                     {"of": src, "text": inbound.text}, self.now(), session_id=session.id)
        else:
            payload: dict[str, Any] = {"summary": inbound.summary or inbound.text}
            answered = await self.original_of(int(ref.chat), ref.reply_to)
            if answered is not None:
                payload["reply_to"] = answered
            await self.records.enqueue(src, chat_id, TO_TOPIC, "copy", payload, self.now(),
                                 session_id=session.id, src_chat=int(ref.chat), src_message_id=ref.message_id)
        await self.outbox.flush(chat_id)

    async def buyer_left(self, chat_id: str) -> None:
        session = await self.records.open_session(chat_id)
        if session is None or await self.records.is_blocked(chat_id):
            return
        await self.records.end_session(session.id, LEFT, self.now(), by="buyer")
        await self._send(f"left:{session.id}", chat_id, TO_TOPIC, "↩️ " + self.texts.t("agent_card.buyer_left"),
                         html_mode=True, session_id=session.id)
        await self.topics.set_icon(chat_id, CLOSED_ICON)
        await self.outbox.flush(chat_id)

    async def notify_action(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        if await self.records.is_blocked(chat_id):
            return
        notice_id = await self.records.add_notice(chat_id, action.name, dict(action.args), self.now())
        known = await self.records.topic(chat_id)
        info = await self.buyer_info(chat_id) if known else BuyerInfo(chat_id, buyer.name, "", state.lang or "")
        link = ""
        if known:
            internal = str(self.group_id).removeprefix("-100")
            link = f'<a href="https://t.me/c/{internal}/{known.thread_id}">#{known.thread_id}</a>'
        text = self.texts.action_notice(action.name, dict(action.args), info, state.order_model(),
                                        self.clock.now(), link)
        seen = [[[self.texts.t("agent_card.seen_button"), f"{CALLBACK_PREFIX}s:{notice_id}"]]]
        await self._send(f"notice:{notice_id}", chat_id, TO_GROUP, text, html_mode=True, buttons=seen)
        await self.outbox.flush(chat_id)

    async def handle_group_update(self, update: Any) -> bool:
        if update.callback_query is not None:
            return await buttons.handle_callback(self, update)
        message = update.message or update.edited_message
        if message is None or message.chat.id != self.group_id:
            return False
        user = message.from_user
        if user is None or user.is_bot or message.sender_chat is not None and message.sender_chat.id != self.group_id:
            return True  # channels, other bots: never relayed
        text = message.text or ""
        thread = message.message_thread_id if message.is_topic_message else None
        name = commands.command_name(text)
        if name == "diagnose" and update.message is not None:
            if await self.is_member(user.id):
                await commands.diagnose(self, thread, commands.command_arg(text))
            return True
        if thread is None:
            return True  # the General topic: nothing to relay
        topic = await self.records.topic_by_thread(thread)
        if topic is None:
            return True  # a topic no buyer owns (or an old one): ignored
        if not await self.is_member(user.id):
            log.warning("ignoring a message from %s: not a member of the agents' group", user.id)
            return True
        if name is not None:
            if update.message is not None:
                await commands.run(self, topic.chat_id, thread, message, name, commands.command_arg(text))
            return True
        if not kind_of(message):
            return True  # service messages (topic renamed, pinned, ...)
        if update.edited_message is not None:
            await agent_relay.relay_agent_edit(self, topic.chat_id, message)
        else:
            await agent_relay.relay_agent(self, topic.chat_id, message)
        return True

    # ---- agents -> buyer ----------------------------------------------------------------------
    def signature(self, user: User | None) -> str:
        template = self.settings.handoff_agent_signature
        if not template:
            return ""
        name = user.first_name if user else ""
        try:
            return template.format(name=name)
        except (KeyError, IndexError, ValueError):
            return template

    async def answered(self, message: Message, chat: int) -> int | None:
        """When `message` replies to a relayed copy, the id of that copy's original on the other side."""
        target = message.reply_to_message
        if target is None or target.forum_topic_created is not None:
            return None  # in a topic, a plain message "replies" to the topic's first message
        return await self.original_of(chat, target.message_id)

    async def original_of(self, chat: int, copy_id: int | None) -> int | None:
        """The id of the original message whose relayed copy in `chat` is `copy_id`."""
        if copy_id is None:
            return None
        relay = await self.records.relay_by_copy(chat, copy_id)
        if relay is not None and relay.src_message_id:
            return relay.src_message_id
        return None

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

    def bind(self, bot: Bot) -> None:
        """Use this Bot for every call (the Application's, once it exists)."""
        self.bot = self.topics.bot = self.outbox.bot = bot

    def install(self, application: Any, resume: Resume | None = None) -> None:
        """Wire into a PTB Application built by bot.telegram.build_telegram (or any other):

        - use its Bot;
        - the handoff's own buttons ("ho:" callbacks: buyers' ratings, agents' "Seen") are handled
          in handler group -1, before the buyer handlers, which would take them for stale presses;
        - everything from the agents' group goes to `handle_group_update`;
        - an agent's /flow puts the buyer back into a flow through `resume`.
        """
        from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, TypeHandler

        self.bind(application.bot)
        if resume is not None:
            self.resume = resume
        group_id = self.group_id

        async def on_button(update: Update, context: Any) -> None:
            await buttons.handle_callback(self, update)
            raise ApplicationHandlerStop

        async def on_group(update: Update, context: Any) -> None:
            await self.handle_group_update(update)

        class GroupHandler(TypeHandler):
            def check_update(self, update: object) -> bool:
                chat = update.effective_chat if isinstance(update, Update) else None
                return chat is not None and chat.id == group_id

        application.add_handler(CallbackQueryHandler(on_button, pattern=f"^{CALLBACK_PREFIX}"), group=-1)
        application.add_handler(GroupHandler(Update, on_group))

    # ---- cards and topics ---------------------------------------------------------------------
    async def _fetch_buyer(self, chat_id: str, buyer: Buyer, lang: str) -> BuyerInfo:
        name, username = buyer.name, ""
        try:
            chat = await self.bot.get_chat(int(chat_id))
            username = chat.username or ""
            name = name or " ".join(p for p in (chat.first_name, chat.last_name) if p)
        except (TelegramError, ValueError) as exc:
            log.info("reading buyer %s: %s", chat_id, exc)
            known = await self.records.topic(chat_id)
            username = known.username if known else ""
        return BuyerInfo(chat_id, name, username, lang)

    async def context_card(self, chat_id: str, state: ConversationState | None, reason: str, flow_id: str,
                           node_id: str, *, info: BuyerInfo | None = None, returning: bool = False) -> str:
        transcript = await self.app.store.transcript(chat_id, limit=40)
        return self.texts.context_card(info or await self.buyer_info(chat_id), state, reason, flow_id, node_id,
                                       transcript, self.clock.now(), on_duty=self.on_duty, returning=returning)

    async def _recreate_topic(self, chat_id: str) -> int | None:
        """The buyer's topic is gone (deleted by an agent): a new one, the card again, then the message."""
        lock = self._recreating.setdefault(chat_id, asyncio.Lock())
        async with lock:
            old = await self.records.topic(chat_id)
            info = await self.buyer_info(chat_id) if old else self._known.pop(chat_id, BuyerInfo(chat_id))
            state = await self._state(chat_id)
            session = await self.records.open_session(chat_id) or await self.records.last_session(chat_id)
            lang = info.lang or (state.lang if state else "") or ""
            order = state.order_model() if state else None
            number = old.order_number if old else (order.order_number if order else "")
            try:
                topic = await self.topics.create(chat_id, info.name, info.username, lang, number)
            except TopicRateLimited as exc:
                log.warning("cannot recreate topic for %s: %s", chat_id, exc)
                return None
            if old is None:  # never created (Telegram failed at handoff time): the queued card follows
                return topic.thread_id
            card = await self.context_card(chat_id, state, session.reason if session else "",
                                           session.flow_id if session else "", session.node_id if session else "",
                                           info=info)
            card = "♻️ <i>" + self.texts.t("agent_card.recreated") + "</i>\n\n" + card
            await self.bot.send_message(self.group_id, card[:4096], message_thread_id=topic.thread_id,
                                        parse_mode=ParseMode.HTML)
            return topic.thread_id

    async def _report_failure(self, relay: Relay, error: str) -> None:
        if relay.direction == TO_BUYER:
            text = "⚠️ " + self.texts.t("agent_card.delivery_failed", error=error)
            await self._send(f"fail:{relay.id}", relay.chat_id, TO_TOPIC, text, html_mode=True)

    # ---- periodic work ------------------------------------------------------------------------
    async def flush_outbox(self, *, force: bool = False) -> int:
        return await self.outbox.flush(force=force)

    async def check_unanswered(self) -> list[int]:
        """Re-announce handoffs nobody answered for `handoff_reply_timeout_minutes` (working hours only)."""
        now = self.clock.now()
        opening = self.hours.current_opening(now)
        if opening is None:
            return []
        limit = self.settings.handoff_reply_timeout_minutes * 60
        done: list[int] = []
        for s in await self.records.unanswered():
            since = max(s.announced_at or s.started_at, opening.timestamp())
            if now.timestamp() - since < limit:
                continue
            waited = int((now.timestamp() - s.started_at) // 60)
            text = "⏰ " + self.texts.t("agent_card.reannounce", waited)
            if self.on_duty:
                text += "\n" + " ".join(html.escape(u) for u in self.on_duty)
            await self._send(f"again:{s.id}:{int(now.timestamp())}", s.chat_id, TO_TOPIC, text, html_mode=True,
                             session_id=s.id)
            await self.records.mark_announced(s.id, now.timestamp())
            done.append(s.id)
        if done:
            await self.outbox.flush()
        return done

    async def tick(self) -> None:
        await self.flush_outbox()
        await self.check_unanswered()

    async def check_permissions(self) -> dict[str, Any]:
        """Refuse to start unless the group is a forum where the bot is an admin that can manage topics."""
        problems: list[str] = []
        try:
            me = await self.bot.get_me()
            chat = await self.bot.get_chat(self.group_id)
        except TelegramError as exc:
            raise HandoffSetupError(
                f"the bot cannot see the agents' group {self.group_id} ({exc}): add the bot to the group "
                "and check AGENTS_CHAT_ID") from exc
        if chat.type != "supergroup" or not chat.is_forum:
            problems.append("topics are off in the agents' group: enable Topics in the group settings")
        member = await self.bot.get_chat_member(self.group_id, me.id)
        if member.status != ChatMemberStatus.ADMINISTRATOR:
            problems.append(f"the bot is not an administrator of the agents' group (status: {member.status}): "
                            "promote it with the 'Manage topics' right")
        elif not getattr(member, "can_manage_topics", False):
            problems.append("the bot is an administrator without the 'Manage topics' right: enable it")
        if problems:
            raise HandoffSetupError("human handoff cannot start: " + "; ".join(problems))
        return {"group": chat.title, "bot": me.username}

    async def startup(self, *, background: bool = True) -> None:
        await self.check_permissions()
        recovered = await self.records.recover()
        if recovered:
            log.warning("%d relays were interrupted mid-send; sending them again", recovered)
        await self.flush_outbox(force=True)
        if background:
            self.start_background()

    def start_background(self, interval: float | None = None) -> None:
        """Run `tick()` every `interval` seconds in an asyncio task of its own."""
        period = interval or self.settings.handoff_check_seconds

        async def loop() -> None:
            while True:
                await asyncio.sleep(period)
                await self._safe_tick()

        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(loop(), name="handoff-periodic")

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except Exception:  # noqa: BLE001 - the periodic job must survive one bad pass
            log.exception("handoff periodic job")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    # ---- used by commands ---------------------------------------------------------------------
    async def open_session(self, chat_id: str) -> Session | None:
        return await self.records.open_session(chat_id)

    async def close_session(self, chat_id: str, session: Session, by: str) -> None:
        await self.records.end_session(session.id, CLOSED, self.now(), by=by)
        lang = await self._buyer_lang(chat_id)
        await self._send(f"resumed:{session.id}", chat_id, TO_BUYER, self._buyer_text("common.bot_resumed", lang))
        stars = [[[str(n) + "⭐", f"{CALLBACK_PREFIX}r:{session.id}:{n}"] for n in range(1, 6)]]
        await self._send(f"rate:{session.id}", chat_id, TO_BUYER, self._buyer_text("handoff.rate_prompt", lang),
                         buttons=stars)
        await self.topics.set_icon(chat_id, CLOSED_ICON)
        await self.outbox.flush(chat_id)

