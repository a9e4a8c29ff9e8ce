"""Turning Telegram updates into engine events, and the engine's replies into Telegram messages.

One entry point, `BuyerHandlers.on_update`, registered as a TypeHandler: agents' group updates go
to the handoff port, private chats to the engine, anything else is ignored.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Callable

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import ContextTypes

from bot.app import App, Reply
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer, Command, Event, Media, Press, StartFlow, Text
from bot.handoff.port import HandoffPort
from bot.i18n.locale import choose_language
from bot.telegram.commands import command_event, parse_command
from bot.telegram.delivery import DeliveryFailed, RetryPolicy, send_rendered, with_retries
from bot.telegram.keyboards import STALE_NODE, decode, resolve_node
from bot.telegram.render import Rendered, escape, render_reply, split_html

log = logging.getLogger(__name__)
NO_AGENT = "no_agent"  # system flow for a handoff nobody can take (no agents' group configured)

# Documents the return flows accept as evidence; other files get a polite refusal.
EVIDENCE_MIME_PREFIXES = ("image/", "video/", "application/pdf")


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the buyer sent, as the engine and the transcript see it. `event` None: no engine turn."""

    event: Event | None
    kind: str
    text: str
    refusal: str = ""  # a message id to answer with instead of running the engine


def buyer_of(update: Update) -> Buyer:
    user = update.effective_user
    chat = update.effective_chat
    return Buyer(id=str(chat.id if chat else user.id), language_code=(user.language_code or "") if user else "",
                 name=user.full_name if user else "")


def incoming_of(message: Message, verify_link: Callable[[str], str | None] | None) -> Incoming:
    """A buyer's message -> the engine event (or a refusal) and its transcript line."""
    if message.text is not None:
        parsed = parse_command(message.text)
        if parsed is not None:
            name, arg = parsed
            return Incoming(command_event(name, arg, verify_link), "command", message.text)
        return Incoming(Text(message.text), "text", message.text)
    caption = message.caption or ""
    if message.photo:
        best = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        return Incoming(Media("photo", best.file_id, best.file_size or 0, "image/jpeg"), "photo", caption or best.file_id)
    if message.video is not None:
        v = message.video
        return Incoming(Media("video", v.file_id, v.file_size or 0, v.mime_type or "video/mp4"), "video", caption or v.file_id)
    if message.document is not None:
        d = message.document
        mime = d.mime_type or ""
        if not mime.startswith(EVIDENCE_MIME_PREFIXES):
            return Incoming(None, "document", caption or d.file_name or d.file_id, refusal="ask.media_invalid")
        return Incoming(Media("document", d.file_id, d.file_size or 0, mime), "document", caption or d.file_name or d.file_id)
    kind = next((k for k in ("sticker", "voice", "video_note", "audio", "animation", "location", "venue", "contact",
                             "poll", "dice") if getattr(message, k, None) is not None), "other")
    return Incoming(None, kind, caption, refusal="common.media_not_expected")


class BuyerHandlers:
    def __init__(self, app: App, handoff: HandoffPort, *, agents_chat_id: int | None = None,
                 policy: RetryPolicy | None = None, verify_link: Callable[[str], str | None] | None = None) -> None:
        self.app = app
        self.handoff = handoff
        self.agents_chat_id = agents_chat_id
        self.policy = policy or RetryPolicy()
        self.verify_link = verify_link
        self.observers: list[Callable[[Update], None]] = []  # told when an update is fully handled

    # ---- entry --------------------------------------------------------------------------------
    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        if self.agents_chat_id is not None and chat.id == self.agents_chat_id:
            await self.handoff.handle_group_update(update)
            return
        if chat.type != ChatType.PRIVATE:
            return
        if update.callback_query is None and update.message is None:
            return  # edited messages, reactions...: nothing to answer
        conversation = str(chat.id)
        buyer = buyer_of(update)
        try:
            await self.on_buyer(update, context, conversation, buyer)
        except Exception:  # noqa: BLE001 - a buyer is never left without an answer
            log.exception("update %s failed in conversation %s", update.update_id, conversation)
            await self.internal_error(context, chat.id, buyer)
        finally:
            for observe in self.observers:
                observe(update)

    async def on_buyer(self, update: Update, context: ContextTypes.DEFAULT_TYPE, conversation: str, buyer: Buyer) -> None:
        query = update.callback_query
        if query is not None:
            await self.answer(query)  # first: the buyer's spinner stops whatever happens next
            await self.on_press(update, context, conversation, buyer)
            return
        message = update.message
        assert message is not None
        incoming = incoming_of(message, self.verify_link)
        is_bot_command = isinstance(incoming.event, Command) and incoming.event.name == "bot"
        if not is_bot_command and await self.handoff.is_active(conversation):
            await self.app.store.add_incoming(conversation, incoming.kind, incoming.text)
            await self.handoff.relay_from_buyer(conversation, message)
            return
        if is_bot_command:  # leave the agents' queue; the engine then greets and shows the menu
            await self.handoff.buyer_left(conversation)
        if isinstance(incoming.event, Command) and incoming.event.name == "history":
            await self.app.store.add_incoming(conversation, incoming.kind, incoming.text)
            await self.send_history(context, message.chat_id, conversation, buyer)
            return
        if incoming.event is None:
            await self.refuse(context, message.chat_id, conversation, buyer, incoming)
            return
        await self.turn(context, message.chat_id, conversation, buyer, incoming.event, (incoming.kind, incoming.text))

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE, conversation: str, buyer: Buyer) -> None:
        query = update.callback_query
        assert query is not None
        chat_id = update.effective_chat.id  # type: ignore[union-attr]
        if await self.handoff.is_active(conversation):
            await self.app.store.add_incoming(conversation, "press", query.data or "")
            return
        callback = decode(query.data)
        if callback is None:
            press = Press("", STALE_NODE)
        else:
            node = callback.node
            if callback.hashed:
                state = await self.app.store.load_state(conversation)
                node = resolve_node(callback, state.at.node if state and state.at else "")
            press = Press(callback.option_id, node or STALE_NODE)
        await self.turn(context, chat_id, conversation, buyer, press, ("press", press.option_id))

    # ---- the engine turn ----------------------------------------------------------------------
    async def turn(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, conversation: str, buyer: Buyer,
                   event: Event, incoming: tuple[str, str] | None) -> Reply:
        reply = await self.app.handle(conversation, event, buyer, incoming=incoming)
        await send_rendered(context.bot, self.app.store, chat_id, render_reply(reply), self.policy, conversation=conversation)
        await self.after_turn(conversation, buyer, reply)
        if not getattr(self.handoff, "available", True) and any(isinstance(e, Handoff) for e in reply.effects):
            # nobody can take it here: say so now instead of leaving the buyer waiting
            return await self.turn(context, chat_id, conversation, buyer, StartFlow(NO_AGENT), None)
        return reply

    async def after_turn(self, conversation: str, buyer: Buyer, reply: Reply) -> None:
        wanted = [e for e in reply.effects if isinstance(e, (Handoff, Action))]
        if not wanted:
            return
        state = await self.app.store.load_state(conversation)
        if state is None:
            return
        for effect in wanted:
            if isinstance(effect, Handoff):
                await self.handoff.start(conversation, buyer, effect, state)
            else:
                await self.handoff.notify_action(conversation, buyer, effect, state)

    # ---- answers without an engine turn -------------------------------------------------------
    async def lang_of(self, conversation: str, buyer: Buyer) -> str:
        state = await self.app.store.load_state(conversation)
        if state is not None and state.lang:
            return state.lang
        return choose_language(None, buyer.language_code, None, self.app.settings.default_lang)

    async def refuse(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, conversation: str, buyer: Buyer,
                     incoming: Incoming) -> None:
        """Stickers, voice, locations...: say so politely; the buyer's step is unchanged."""
        await self.app.store.add_incoming(conversation, incoming.kind, incoming.text)
        lang = await self.lang_of(conversation, buyer)
        text = self.app.renderer.text(incoming.refusal, lang)
        await send_rendered(context.bot, None, chat_id, [Rendered(None, split_html(text))], self.policy,
                            conversation=conversation)

    async def send_history(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, conversation: str, buyer: Buyer) -> None:
        entries = await self.app.store.transcript(conversation)
        lines = [f"{_when(e.at)} {'>' if e.direction == 'in' else '<'} {e.text}" for e in entries if e.text]
        data = ("\n".join(lines) + "\n").encode()
        await with_retries(lambda: context.bot.send_document(chat_id, io.BytesIO(data), filename="history.txt"),
                           self.policy, what=f"history to chat {chat_id}")

    async def answer(self, query: Any) -> None:
        try:
            await with_retries(query.answer, self.policy, what="answerCallbackQuery")
        except DeliveryFailed as exc:  # an expired query: nothing the buyer can see
            log.info("callback query not answered: %s", exc)

    async def internal_error(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, buyer: Buyer) -> None:
        """The fixed internal-error text in the buyer's language, without touching the store or engine."""
        lang = choose_language(None, buyer.language_code, None, self.app.settings.default_lang)
        try:
            lang = await self.lang_of(str(chat_id), buyer)
        except Exception:  # noqa: BLE001 - the store may be what failed
            pass
        text = self.app.renderer.text("system.internal_error", lang)
        try:
            await with_retries(lambda: context.bot.send_message(chat_id, escape(text), parse_mode=ParseMode.HTML),
                               self.policy, what=f"internal error to chat {chat_id}")
        except DeliveryFailed as exc:
            log.error("internal-error message to chat %s not delivered: %s", chat_id, exc)


def _when(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
