"""Reading a Telegram message for the handoff: what kind it is, a one-line summary, who wrote it."""

from __future__ import annotations

from telegram import Message, User

CONTENT = ("text", "photo", "video", "document", "voice", "audio", "animation", "video_note", "sticker",
           "location", "contact")


def kind_of(message: Message) -> str:
    for name in CONTENT:
        if getattr(message, name, None):
            return name
    return ""


def summary_of(message: Message) -> str:
    kind = kind_of(message)
    text = message.text or message.caption or ""
    return text if kind == "text" else f"[{kind}] {text}".strip()


def author_of(user: User | None) -> str:
    if user is None:
        return "?"
    return user.full_name + (f" @{user.username}" if user.username else "")
