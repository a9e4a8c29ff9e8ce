"""Buyers' private chats: PTB handlers that translate updates for the conversation service.

Everything a buyer does in a private chat reaches `BuyerHandlers.on_update` (a TypeHandler filtered
to private chats), but a plain text or button press, which long polling hands to `on_raw` straight
from the update's JSON (bot/telegram/raw.py, bot/telegram/polling.py); the agents' group has handlers
of its own (bot/handoff/group_router.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Protocol

from telegram import Bot, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, ContextTypes, TypeHandler

from bot.conversation.service import Conversation
from bot.handoff.group_router import CALLBACK_PREFIX as HANDOFF_BUTTONS
from bot.telegram import raw
from bot.telegram.delivery import DeliveryFailed, RetryPolicy, answer_query, with_retries
from bot.telegram.inbound import LinkVerifier, buyer_of, message_inbound, needs_node, press_inbound

log = logging.getLogger(__name__)


class Handled(Protocol):
    @property
    def update_id(self) -> int: ...


def is_private(update: object) -> bool:
    chat = update.effective_chat if isinstance(update, Update) else None
    return chat is not None and chat.type == ChatType.PRIVATE


class BuyerHandlers:
    def __init__(self, conversation: Conversation, *, policy: RetryPolicy | None = None,
                 verify_link: LinkVerifier | None = None) -> None:
        self.conversation = conversation
        self.policy = policy or RetryPolicy()
        self.verify_link = verify_link
        self.observers: list[Callable[[Handled], None]] = []  # told when an update is fully handled

    def handler(self) -> BaseHandler:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.on_update(update)

        return _PrivateHandler(callback)

    async def on_update(self, update: Update) -> None:
        try:
            message = update.message or update.edited_message
            if update.callback_query is not None:
                await self.answer(update.get_bot(), update.callback_query.id)  # first: the spinner stops
                at = str(update.effective_chat.id)  # type: ignore[union-attr]
                node = await self.node_now(at) if needs_node(update.callback_query.data) else ""
                await self.conversation.handle(press_inbound(update, node))
            elif message is not None:
                await self.conversation.handle(message_inbound(update, message, self.verify_link))
            # anything else in a private chat (the buyer blocked the bot, a reaction...): nothing to answer
        except Exception:  # translating failed before the service could answer
            log.exception("update %s failed", update.update_id)
            chat = update.effective_chat
            if chat is not None:
                await self.conversation.internal_error(str(chat.id), buyer_of(update))
        finally:
            for observe in self.observers:
                observe(update)

    async def on_queued(self, update: object) -> None:
        """An update waits for the same chat's previous one (bot/telegram/ordering.py)."""
        if isinstance(update, raw.RawUpdate):  # a buyer's text or press read from the JSON
            chat, buyer, update_id = str(update.chat_id), update.buyer, update.update_id
        elif isinstance(update, Update) and is_private(update) and update.effective_chat is not None:
            chat, buyer, update_id = str(update.effective_chat.id), buyer_of(update), update.update_id
        else:
            return
        try:
            await self.conversation.waiting(chat, buyer)
        except Exception:  # a courtesy notice; the update itself is handled in turn
            log.exception("still-checking notice for update %s failed", update_id)

    async def on_raw(self, update: raw.RawUpdate, bot: Bot) -> None:
        """A plain text or press read from the update's JSON: the same as `on_update` would do with it,
        and the update's outcome recorded (what the inbox's finisher does for PTB's updates)."""
        try:
            if update.query is not None:
                await self.answer(bot, update.query["id"])
                node = await self.node_now(str(update.chat_id)) if update.hashed_press else ""
                await self.conversation.handle(raw.press_inbound(update, node))
            else:
                await self.conversation.handle(raw.text_inbound(update, self.verify_link))
        except Exception:  # translating failed before the service could answer
            log.exception("update %s failed", update.update_id)
            await self.conversation.internal_error(str(update.chat_id), update.buyer)
        try:
            await self.conversation.store.inbox_finish(update.receipt, "done")
        except Exception:  # the store failed: the update stays pending and start-up completes it
            log.exception("update %s: outcome not recorded", update.update_id)
        for observe in self.observers:
            observe(update)

    async def node_now(self, chat: str) -> str:
        state = await self.conversation.store.load_state(chat)
        return state.at.node if state and state.at else ""

    async def answer(self, bot: Bot, query_id: str) -> None:
        try:
            await with_retries(partial(answer_query, bot, query_id), self.policy, what="answerCallbackQuery")
        except DeliveryFailed as exc:  # an expired query: nothing the buyer can see
            log.info("callback query not answered: %s", exc)


class _PrivateHandler(TypeHandler):
    """Every update of a private chat but the handoff's own buttons (a buyer's rating of a closed case)."""

    def __init__(self, callback: Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]) -> None:
        super().__init__(Update, callback)

    def check_update(self, update: object) -> bool:
        if not is_private(update):
            return False
        query = update.callback_query  # type: ignore[attr-defined]
        return query is None or not (query.data or "").startswith(HANDOFF_BUTTONS)  # ratings: the handoff's
