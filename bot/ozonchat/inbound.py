"""Messages from Ozon's chat as the conversation service's channel-neutral `Inbound`.

Conversation keys keep the channel: `oz:<chat_id>` beside Telegram's numeric chat ids, so one
person may talk to the shop in both places. The inbox key of a message is `oz:<message_id>`.
Ozon sends Markdown; it is read as text (a link's label and address, no markup).
"""

from __future__ import annotations

import re

from bot.conversation.io import Inbound, SourceRef
from bot.engine.events import Buyer, Command, Event, Media, Start, Text
from bot.ozonchat.api import ChatMessage

PREFIX = "oz:"
COMMANDS = frozenset({"start", "menu", "lang", "order", "agent", "history", "help", "bot"})
_MD_LINK = re.compile(r"\[\s*([^\]]*?)\s*\]\(([^)\s]+)\)")
_MD_MARKS = re.compile(r"(\*\*|__|~~|`)")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])")


def conversation_of(chat_id: str) -> str:
    return PREFIX + chat_id


def chat_of(conversation: str) -> str | None:
    """The Ozon chat id of a conversation key, or None for another channel's conversation."""
    return conversation[len(PREFIX):] if conversation.startswith(PREFIX) else None


def receipt_of(message: ChatMessage, *, edited: bool = False) -> str:
    """The inbox key of a message (`oz:<message_id>`), or of one edit of it (`...:e<unix time>`)."""
    return f"{PREFIX}{message.message_id}" + (f":e{int(message.created_at.timestamp())}" if edited else "")


def plain(markdown: str) -> str:
    """Ozon's Markdown as the text a buyer meant: `[label](url)` -> `label url`, no emphasis marks."""
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} {m.group(2)}".strip(), markdown)
    text = _MD_MARKS.sub("", text)
    return _MD_ESCAPE.sub(r"\1", text).strip()


def event_of(text: str) -> Event:
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, arg = stripped[1:].partition(" ")
        name = head.lower()
        if name == "start":
            return Start()
        if name in COMMANDS:
            return Command(name, arg.strip())
    return Text(text)


def message_inbound(message: ChatMessage, *, edited: bool = False, name: str = "") -> Inbound:
    conversation = conversation_of(message.chat_id)
    buyer = Buyer(id=conversation, name=name or f"Ozon {message.user_id}".strip())
    ref = SourceRef(conversation, message.message_id, message.created_at.timestamp() if edited else None)
    receipt = receipt_of(message, edited=edited)
    text = plain("\n".join(message.data))
    if message.is_image:
        url = next((d for d in message.data if d.strip()), "") or f"ozon-image-{message.message_id}"
        media = Media("photo", plain(url), 0, "image/jpeg")
        return Inbound(conversation, buyer, media, "photo", text or url, ref=ref, receipt=receipt,
                       summary=f"[photo] {text}".strip())
    if not text:
        return Inbound(conversation, buyer, None, "other", "", refusal="ozonchat.media_not_expected", ref=ref,
                       receipt=receipt)
    event = event_of(text)
    kind = "command" if isinstance(event, (Command, Start)) else "text"
    return Inbound(conversation, buyer, event, kind, text, ref=ref, receipt=receipt, summary=text)
