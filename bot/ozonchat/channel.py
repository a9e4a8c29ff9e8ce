"""`OzonChatChannel`: how the conversation service reaches a buyer in Ozon's chat.

Every text is rendered without buttons (bot/ozonchat/render.py), made moderation-safe and cut to
Ozon's 1000 characters. Before sending, the reply window is checked (bot/ozonchat/rules.py): a
reply Ozon would not take becomes a note to the agents, with the text, not an error; so does a
send Ozon refuses (403). Without the subscription the chat methods need, nothing is sent (the
adapter hands such chats to agents).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.conversation.io import Reply
from bot.orders.ozon.errors import OzonError
from bot.ozonchat.api import ChatForbidden, OzonChatApi
from bot.ozonchat.inbound import chat_of
from bot.ozonchat.render import TextOf, render_reply
from bot.ozonchat.rules import Verdict, moderation_safe, split_text
from bot.store.base import ConversationStore

log = logging.getLogger(__name__)

WindowCheck = Callable[[str], Awaitable[Verdict]]  # conversation -> may the shop write now?
Note = Callable[[str, str, dict[str, str]], Awaitable[None]]  # conversation, agents' msgid, params

WINDOW_CLOSED, REFUSED, READ_ONLY = "reply_window_closed", "refused_by_ozon", "read_only"


class NotSent(Exception):
    """A text that Ozon's rules or Ozon itself kept from the buyer (the reason is in `reason`)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


async def _no_note(conversation: str, msgid: str, params: dict[str, str]) -> None:
    log.warning("Ozon chat %s: %s %s (no agents to tell)", conversation, msgid, params.get("reason", ""))


class OzonChatChannel:
    def __init__(self, api: OzonChatApi, store: ConversationStore, window: WindowCheck, *,
                 note: Note | None = None, writable: bool = True, text_of: TextOf | None = None) -> None:
        self.api = api
        self.text_of = text_of  # (msgid, lang) -> text: Ozon chat's own wording where Telegram's names buttons
        self.store = store
        self.window = window
        self.note: Note = note or _no_note
        self.writable = writable  # False: no Premium Plus/Pro; the adapter hands every chat to agents

    # ---- the Channel --------------------------------------------------------------------------
    async def deliver(self, conversation: str, reply: Reply) -> None:
        texts = render_reply(reply, text_of=self.text_of)
        failed: str | None = None
        for i, text in enumerate(texts):
            error = failed or ""
            if not error:
                try:
                    await self.send_chunks(conversation, text.chunks)
                except NotSent as exc:
                    error = failed = exc.reason  # the rest of the turn cannot go either
                    await self._tell_agents(conversation, exc, [t.original for t in texts[i:]])
                except OzonError as exc:
                    error = "ozon"
                    log.error("reply %s to Ozon chat %s not delivered: %s", text.message_id, conversation, exc)
            if text.message_id is not None:
                await self.store.mark_delivery(text.message_id, not error, error)

    async def send_text(self, conversation: str, text: str) -> None:
        try:
            await self.send_chunks(conversation, split_text(moderation_safe(text)))
        except NotSent as exc:
            await self._tell_agents(conversation, exc, [text])
        except OzonError as exc:
            log.error("text to Ozon chat %s not delivered: %s", conversation, exc)

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        chat = self._chat(conversation)
        try:
            await self.check(conversation)
            await self.api.send_file(chat, filename, data)
        except NotSent as exc:
            await self._tell_agents(conversation, exc, [f"[{filename}]"])
        except ChatForbidden as exc:
            await self._tell_agents(conversation, NotSent(REFUSED, exc.message), [f"[{filename}]"])
        except OzonError as exc:
            log.error("%s to Ozon chat %s not delivered: %s", filename, conversation, exc)

    # ---- sending ------------------------------------------------------------------------------
    async def check(self, conversation: str) -> None:
        """Raise NotSent unless the shop may write in this chat now."""
        if not self.writable:
            raise NotSent(READ_ONLY)
        verdict = await self.window(conversation)
        if not verdict.open:
            raise NotSent(WINDOW_CLOSED, verdict.rule)

    async def send_chunks(self, conversation: str, chunks: list[str]) -> None:
        """Send one message's pieces in order; NotSent when the rules or Ozon keep them back."""
        chat = self._chat(conversation)
        await self.check(conversation)
        for chunk in chunks:
            try:
                await self.api.send_message(chat, chunk)
            except ChatForbidden as exc:
                if exc.subscription:  # found out now: read-only from here on
                    self.writable = False
                    log.error("Ozon refuses to send chat messages without the Premium Plus/Pro subscription: "
                              "the Ozon chat adapter is read-only now and hands every chat to agents")
                    raise NotSent(READ_ONLY, exc.message) from exc
                raise NotSent(REFUSED, exc.message) from exc

    def _chat(self, conversation: str) -> str:
        chat = chat_of(conversation)
        if chat is None:
            raise ValueError(f"{conversation!r} is not an Ozon chat conversation")
        return chat

    async def _tell_agents(self, conversation: str, exc: NotSent, texts: list[str]) -> None:
        if exc.reason == READ_ONLY:
            return  # every chat is with the agents already; they answer in the seller's cabinet
        msgid = "agent_card.ozon_window_closed" if exc.reason == WINDOW_CLOSED else "agent_card.ozon_refused"
        log.info("Ozon chat %s: reply not sent (%s)", conversation, exc)
        await self.note(conversation, msgid, {"reason": exc.detail or exc.reason, "text": "\n\n".join(texts)})

