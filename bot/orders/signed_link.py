"""HMAC-signed deep-link payloads that prove a buyer owns a posting when the API gives no phone.

The seller hands the buyer `https://t.me/<bot>?start=<payload>` (in the Ozon chat, on an insert
card); opening it proves the buyer received it. A payload is `<posting>_<signature>`: the posting
number as is, then 16 bytes of HMAC-SHA256 in unpadded base64url, at most 44 characters from
[A-Za-z0-9_-], inside Telegram's /start limit of 64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_POSTING = re.compile(r"[0-9]{5,12}-[0-9]{4}-[0-9]{1,3}")
_DOMAIN = b"ozonbot/posting-owner/v1:"
_SIG_BYTES = 16
MAX_PAYLOAD = 64


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the signing secret must not be empty")
    return key


def _signature(posting: str, secret: str | bytes) -> str:
    digest = hmac.new(_key(secret), _DOMAIN + posting.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_posting(posting: str, secret: str | bytes) -> str:
    """The /start payload for `posting` (e.g. "57195475-0050-3")."""
    if not _POSTING.fullmatch(posting):
        raise ValueError(f"not a posting number: {posting!r}")
    return f"{posting}_{_signature(posting, secret)}"


def verify_payload(payload: str, secret: str | bytes) -> str | None:
    """The posting number a genuine payload was signed for, else None."""
    if not payload or len(payload) > MAX_PAYLOAD:
        return None
    posting, sep, signature = payload.partition("_")
    if not sep or not _POSTING.fullmatch(posting):
        return None
    return posting if hmac.compare_digest(signature, _signature(posting, secret)) else None
