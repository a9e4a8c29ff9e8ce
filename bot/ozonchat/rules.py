"""Ozon's rules for a seller's messages in the buyer chat, as data (reference §8).

- Reply windows (`/v1/chat/send/message`, `/v1/chat/send/file`): FBS and rFBS from payment until
  72 h after delivery, then only within 48 h of the buyer's last message; FBO only within 48 h of
  the buyer's last message. A chat about no known order gets the narrowest rule (48 h).
- A message is plain text of 1-1000 characters: longer texts are cut at paragraph, line, sentence,
  then word boundaries.
- Ozon moderates links and phone numbers in sellers' messages: texts sent there carry neither
  (`moderation_safe` replaces them; order and posting numbers are kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.orders.model import Order, Scheme

MAX_MESSAGE = 1000
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Window:
    """When a seller may write: `after_delivery` hours after delivery (None: never counts),
    else `after_buyer` hours after the buyer's last message."""

    after_delivery: float | None
    after_buyer: float


WINDOWS: dict[str, Window] = {
    Scheme.FBS.value: Window(after_delivery=72, after_buyer=48),
    Scheme.RFBS.value: Window(after_delivery=72, after_buyer=48),
    Scheme.FBO.value: Window(after_delivery=None, after_buyer=48),
}
NO_ORDER = Window(after_delivery=None, after_buyer=48)  # a chat about no known order


@dataclass(frozen=True, slots=True)
class Verdict:
    open: bool
    rule: str  # which rule decided: "order" (payment..72 h after delivery), "buyer_48h", "closed"
    until: datetime | None = None  # when the window closes, where known


def reply_window(order: Order | None, last_buyer_at: datetime | None, now: datetime) -> Verdict:
    """May the shop write to this buyer now?"""
    window = WINDOWS.get(order.scheme.value, NO_ORDER) if order is not None else NO_ORDER
    if order is not None and window.after_delivery is not None and order.status not in ("cancelled",):
        paid = order.in_process_at is not None or order.status not in ("awaiting_verification", "awaiting_approve")
        delivered = order.delivered_at or (order.status_changed_at if order.status == "delivered" else None)
        if paid and (order.status != "delivered" or delivered is None):
            return Verdict(True, "order")
        if paid and delivered is not None and now <= delivered + window.after_delivery * HOUR:
            return Verdict(True, "order", delivered + window.after_delivery * HOUR)
    if last_buyer_at is not None and now <= last_buyer_at + window.after_buyer * HOUR:
        return Verdict(True, "buyer_48h", last_buyer_at + window.after_buyer * HOUR)
    return Verdict(False, "closed")


# ---- moderation ---------------------------------------------------------------------------------
_END = r"(?=[.,;:!?)\]»\"']*(?:\s|$))"  # trailing punctuation is the sentence's, not the link's
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+?" + _END +
    r"|\b(?:t\.me|wa\.me|vk\.com|ozon\.ru|ozon\.com|[a-z0-9-]{2,}\.(?:ru|com|net|org|рф|cn|me|io|su|info|shop))"
    r"(?:/\S*?)?" + _END)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# +7 916 123-45-67, 8 (916) 123 45 67, 89161234567, +86 138 0013 8000: 10-13 digits with the usual
# separators. Order and posting numbers (8-12 digits, 4 digits, 1-3 digits) have other group sizes.
_PHONE = re.compile(r"(?<![\w-])(?:\+?\d{1,3}[\s-]?)?(?:\(\d{3,4}\)|\d{3,4})[\s-]?\d{3,4}[\s-]?\d{2,4}(?:[\s-]?\d{2})?"
                    r"(?![\w-])")
_ORDER = re.compile(r"^\d{5,12}-\d{4}(?:-\d{1,3})?$")
LINK_MARK, PHONE_MARK = "…", "…"


def _phone_like(match: re.Match[str]) -> bool:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    return 10 <= digits <= 13 and not _ORDER.match(text.strip())


def moderation_problems(text: str) -> list[str]:
    """The links, e-mail addresses and phone numbers in `text` that Ozon's moderation would stop."""
    found = [m.group(0) for m in _LINK.finditer(text)] + [m.group(0) for m in _EMAIL.finditer(text)]
    found += [m.group(0) for m in _PHONE.finditer(text) if _phone_like(m)]
    return found


def moderation_safe(text: str) -> str:
    """`text` without links, e-mail addresses or phone numbers (each replaced by "…")."""
    text = _EMAIL.sub(LINK_MARK, text)
    text = _LINK.sub(LINK_MARK, text)
    return _PHONE.sub(lambda m: PHONE_MARK if _phone_like(m) else m.group(0), text)


# ---- length -------------------------------------------------------------------------------------
_SEPARATORS = (r"(?<=\n\n)", r"(?<=\n)", r"(?<=[.!?。！？…])\s*", r"(?<= )", "")


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """`text` cut into pieces of 1..`limit` characters, at paragraph, line, sentence, then word
    boundaries; blank pieces dropped. An empty text gives no piece."""
    return [p.strip() for p in _split(text.strip(), limit, 0) if p.strip()]


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    sep = _SEPARATORS[level]
    pieces = [p for p in re.split(sep, text) if p] if sep else list(text)
    if sep.endswith(r"\s*"):  # sentence ends: keep one space between sentences glued back together
        pieces = [p + " " for p in pieces]
    out: list[str] = []
    current = ""
    for piece in pieces:
        if len(current + piece) <= limit or (not current and len(piece.rstrip()) <= limit):
            current += piece
            continue
        if current.strip():
            out.append(current)
        current = ""
        if len(piece.rstrip()) <= limit:
            current = piece
        else:
            out.extend(_split(piece.strip(), limit, level + 1))
    if current.strip():
        out.append(current)
    return out
