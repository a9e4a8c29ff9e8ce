"""Reply texts as Telegram HTML: every dynamic text escaped, long texts split under 4096 chars."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.conversation.io import Reply
from bot.telegram.keyboards import keyboard

MAX_MESSAGE = 4096


@dataclass(frozen=True, slots=True)
class Rendered:
    """One transcript message as Telegram messages: HTML chunks, the keyboard on the last one."""

    message_id: int | None  # the transcript id, for mark_delivery
    chunks: list[str]
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None


def escape(text: str) -> str:
    return html.escape(text, quote=False)


_SEPARATORS = ("\n\n", "\n", " ", "")


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Escape `text` and cut it into pieces of at most `limit` characters, never inside an entity,
    preferring paragraph, then line, then word boundaries."""
    return [escape(part) for part in _split(text, limit, 0) if part.strip()] or [escape(text.strip() or "…")]


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(escape(text)) <= limit:
        return [text]
    sep = _SEPARATORS[level]
    pieces = re.split(f"(?<={re.escape(sep)})", text) if sep else list(text)
    out: list[str] = []
    current = ""
    for piece in pieces:
        if len(escape(current + piece)) <= limit:
            current += piece
            continue
        if current:
            out.append(current)
            current = ""
        if len(escape(piece)) <= limit:
            current = piece
        else:
            out.extend(_split(piece, limit, level + 1))
    if current:
        out.append(current)
    return out


def contact_keyboard(label: str) -> ReplyKeyboardMarkup:
    """Telegram's "share my phone number" button: the buyer's own number, one tap."""
    return ReplyKeyboardMarkup([[KeyboardButton(label, request_contact=True)]], resize_keyboard=True,
                               one_time_keyboard=True)


def asks_contact(reply: Reply) -> bool:
    return any(m.meta.get("contact") for m in reply.outgoing)


def render_reply(reply: Reply, limit: int = MAX_MESSAGE, *, remove_contact: bool = False) -> list[Rendered]:
    """The messages to send for one turn. Handoff and other non-text outgoings send nothing here.

    A message asking for the phone carries the contact button; with `remove_contact` (the button
    was shown before and this reply no longer asks for it) the first message without inline
    buttons takes the keyboard away."""
    out: list[Rendered] = []
    ids = list(reply.message_ids) + [None] * (len(reply.outgoing) - len(reply.message_ids))
    for message, message_id in zip(reply.outgoing, ids, strict=True):
        if message.kind != "say" or not message.text:
            continue
        buttons = message.meta.get("buttons")
        markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = (
            keyboard(buttons, message.meta.get("node", "")) if buttons else None)
        if markup is None and message.meta.get("contact"):
            markup = contact_keyboard(str(message.meta["contact"]))
        elif markup is None and remove_contact:
            markup, remove_contact = ReplyKeyboardRemove(), False
        out.append(Rendered(message_id, split_html(message.text, limit), markup))
    return out
