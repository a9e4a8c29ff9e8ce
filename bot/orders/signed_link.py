"""HMAC-signed deep-link payloads that prove a buyer owns a posting when the API gives no phone.

The seller hands the buyer `https://t.me/<bot>?start=<payload>` (in the Ozon chat, on an insert
card); opening it proves the buyer received it. A payload is `<posting>_<issued>_<signature>`: the
posting number as is, the day it was made (days since 2020-01-01, base 36), then 16 bytes of
HMAC-SHA256 over both in unpadded base64url: at most 49 characters from [A-Za-z0-9_-], inside
Telegram's /start limit of 64.

A link works `ttl_days` (LINK_TTL_DAYS) after the day it was made, and only for the first buyer who
opens it (the engine binds it through the store). Links of the first format (`<posting>_<signature>`,
no date) verify but count as expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_POSTING = re.compile(r"[0-9]{5,12}-[0-9]{4}-[0-9]{1,3}")
_ISSUED = re.compile(r"[0-9a-z]{1,4}")
_DOMAIN_V1 = b"ozonbot/posting-owner/v1:"
_DOMAIN = b"ozonbot/posting-owner/v2:"
_SIG_BYTES = 16
_SIG_CHARS = 22  # 16 bytes in unpadded base64url
MAX_PAYLOAD = 64
EPOCH = date(2020, 1, 1)


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """A payload whose signature is genuine."""

    posting: str
    link_id: str  # what the link binds to its first buyer: the signed posting and day
    expired: bool


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the signing secret must not be empty")
    return key


def _sign(message: bytes, secret: str | bytes) -> str:
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _today(now: datetime | None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def sign_posting(posting: str, secret: str | bytes, now: datetime | None = None) -> str:
    """The /start payload for `posting` (e.g. "57195475-0050-3"), made today (or on `now`'s day)."""
    if not _POSTING.fullmatch(posting):
        raise ValueError(f"not a posting number: {posting!r}")
    issued = _base36((_today(now) - EPOCH).days)
    return f"{posting}_{issued}_{_sign(_DOMAIN + f'{posting}_{issued}'.encode(), secret)}"


def check_payload(payload: str, secret: str | bytes, *, now: datetime | None = None,
                  ttl_days: float = 30) -> LinkCheck | None:
    """The posting a genuine payload was signed for, its id and whether it has expired; None for
    anything not signed with `secret`."""
    if not payload or len(payload) > MAX_PAYLOAD:
        return None
    posting, sep, rest = payload.partition("_")
    if not sep or not _POSTING.fullmatch(posting):
        return None
    if len(rest) == _SIG_CHARS:  # the first format: no date, never expires by itself, so expired now
        genuine = hmac.compare_digest(rest, _sign(_DOMAIN_V1 + posting.encode(), secret))
        return LinkCheck(posting, posting, expired=True) if genuine else None
    issued, sep, signature = rest.partition("_")
    if not sep or not _ISSUED.fullmatch(issued):
        return None
    if not hmac.compare_digest(signature, _sign(_DOMAIN + f"{posting}_{issued}".encode(), secret)):
        return None
    age = (_today(now) - EPOCH).days - int(issued, 36)
    return LinkCheck(posting, f"{posting}_{issued}", expired=not 0 <= age <= ttl_days)


def verify_payload(payload: str, secret: str | bytes) -> str | None:
    """The posting number a genuine payload was signed for (expired or not), else None."""
    check = check_payload(payload, secret)
    return check.posting if check else None
