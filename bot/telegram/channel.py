"""`TelegramChannel`: how the conversation service reaches a buyer in Telegram."""

from __future__ import annotations

import io
import logging

from telegram import Bot, ReplyKeyboardRemove
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.conversation.io import Reply
from bot.store.base import ConversationStore
from bot.telegram.delivery import DeliveryFailed, RetryPolicy, send_rendered, with_retries
from bot.telegram.render import Rendered, asks_contact, render_reply, split_html

log = logging.getLogger(__name__)


class TelegramChannel:
    def __init__(self, bot: Bot, store: ConversationStore, policy: RetryPolicy | None = None) -> None:
        self.bot = bot
        self.store = store
        self.policy = policy or RetryPolicy()
        # Chats shown the "share my phone number" keyboard, until a reply takes it away (in memory:
        # after a restart a leftover keyboard goes at the buyer's next tap or the next ask).
        self._contact_shown: set[str] = set()

    async def deliver(self, conversation: str, reply: Reply) -> None:
        asking = asks_contact(reply)
        rendered = render_reply(reply, remove_contact=not asking and conversation in self._contact_shown)
        if asking:
            self._contact_shown.add(conversation)
        elif any(isinstance(r.markup, ReplyKeyboardRemove) for r in rendered):
            self._contact_shown.discard(conversation)
        await send_rendered(self.bot, self.store, int(conversation), rendered, self.policy, conversation=conversation)

    async def send_text(self, conversation: str, text: str) -> None:
        await send_rendered(self.bot, None, int(conversation), [Rendered(None, split_html(text))], self.policy,
                            conversation=conversation)

    async def working(self, conversation: str) -> None:
        """"typing…" in the buyer's chat while a turn runs past its budget (bot/conversation/budget.py):
        one try, no retries; it shows for ~5 s or until our next message."""
        try:
            await self.bot.send_chat_action(int(conversation), ChatAction.TYPING)
        except TelegramError as exc:
            log.info("typing action to chat %s failed: %s", conversation, exc)

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        chat_id = int(conversation)
        try:
            await with_retries(lambda: self.bot.send_document(chat_id, io.BytesIO(data), filename=filename),
                               self.policy, what=f"{filename} to chat {chat_id}")
        except DeliveryFailed as exc:
            log.error("%s to chat %s not delivered: %s", filename, chat_id, exc)

