"""Replies for Ozon's chat, which has no buttons: each choice a numbered line under the text, in
the order the engine numbers them (so typing "2", the label or "второй" picks the same option,
bot/engine/understanding.py), every text moderation-safe and cut into 1-1000-character messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.conversation.io import Reply
from bot.ozonchat.rules import MAX_MESSAGE, moderation_safe, split_text

_NUMBERED = re.compile(r"^(\d{1,2})\. (.+)$")
TextOf = Callable[[str, str], str]
# Texts that only fit Telegram, and what Ozon chat says instead: pressing a button (there are none),
# "write to us in the Ozon app's order chat" (the buyer is already there).
VARIANTS = {"common.not_understood": "ozonchat.not_understood",
            "common.media_not_expected": "ozonchat.media_not_expected",
            "system.no_agent": "ozonchat.no_agent"}


@dataclass(frozen=True, slots=True)
class OzonText:
    """One transcript message as Ozon chat messages."""

    message_id: int | None  # the transcript id, for mark_delivery
    chunks: list[str]
    original: str  # the text before moderation (for an agent's note when it cannot be sent)


def numbered(buttons: list[list[str]]) -> str:
    return "\n".join(f"{i}. {label}" for i, (_, label) in enumerate(buttons, 1))


def ozon_text(text: str, buttons: list[list[str]] | None = None) -> str:
    """The text the buyer reads: the message, then its choices as numbered lines."""
    body = text.strip()
    if buttons:
        body = f"{body}\n\n{numbered(buttons)}" if body else numbered(buttons)
    return body


def render_reply(reply: Reply, limit: int = MAX_MESSAGE, *, text_of: TextOf | None = None) -> list[OzonText]:
    """The messages to send for one turn; handoff markers and empty texts send nothing. With
    `text_of` (msgid, lang -> text), texts that speak of buttons are said as Ozon chat needs (VARIANTS)."""
    out: list[OzonText] = []
    ids = list(reply.message_ids) + [None] * (len(reply.outgoing) - len(reply.message_ids))
    for message, message_id in zip(reply.outgoing, ids, strict=True):
        if message.kind != "say":
            continue
        said = message.text
        variant = VARIANTS.get(str(message.meta.get("msg", "")))
        if variant is not None and text_of is not None:
            said = text_of(variant, reply.lang)
        text = ozon_text(said, message.meta.get("buttons"))
        if not text:
            continue
        out.append(OzonText(message_id, split_text(moderation_safe(text), limit), text))
    return out


def choices_shown(text: str) -> list[str]:
    """The numbered choices ending a rendered text ("1. …", "2. …"), in order; [] when none."""
    tail: list[tuple[int, str]] = []
    for line in reversed(text.strip().splitlines()):
        m = _NUMBERED.match(line.strip())
        if m is None:
            break
        tail.append((int(m.group(1)), m.group(2)))
    tail.reverse()
    if [n for n, _ in tail] != list(range(1, len(tail) + 1)):
        return []
    return [label for _, label in tail]
