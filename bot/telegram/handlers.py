"""Buyers' private chats: PTB handlers that translate updates for the conversation service.

Everything a buyer does in a private chat reaches `BuyerHandlers.on_update` (a TypeHandler filtered
to private chats); the agents' group has handlers of its own (bot/handoff/group_router.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, ContextTypes, TypeHandler

from bot.conversation.service import Conversation
from bot.handoff.group_router import CALLBACK_PREFIX as HANDOFF_BUTTONS
from bot.telegram.delivery import DeliveryFailed, RetryPolicy, answer_query, with_retries
from bot.telegram.inbound import LinkVerifier, buyer_of, message_inbound, press_inbound

log = logging.getLogger(__name__)


def is_private(update: object) -> bool:
    chat = update.effective_chat if isinstance(update, Update) else None
    return chat is not None and chat.type == ChatType.PRIVATE


class BuyerHandlers:
    def __init__(self, conversation: Conversation, *, policy: RetryPolicy | None = None,
                 verify_link: LinkVerifier | None = None) -> None:
        self.conversation = conversation
        self.policy = policy or RetryPolicy()
        self.verify_link = verify_link
        self.observers: list[Callable[[Update], None]] = []  # told when an update is fully handled

    def handler(self) -> BaseHandler:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.on_update(update)

        return _PrivateHandler(callback)

    async def on_update(self, update: Update) -> None:
        try:
            message = update.message or update.edited_message
            if update.callback_query is not None:
                await self.answer(update)  # first: the buyer's spinner stops whatever happens next
                state = await self.conversation.store.load_state(str(update.effective_chat.id))  # type: ignore[union-attr]
                await self.conversation.handle(press_inbound(update, state.at.node if state and state.at else ""))
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

    async def answer(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        try:
            await with_retries(partial(answer_query, update.get_bot(), query.id), self.policy,
                               what="answerCallbackQuery")
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
