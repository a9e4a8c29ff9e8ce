"""Ozon Seller API failures as specific exceptions, and `check_response`, which maps an HTTP reply to them.

Ozon answers errors with an rpcStatus body `{"code", "message", "details"}`. Its codes are gRPC
ones, so code 5 (NOT_FOUND) comes both with a bad key and, probably, with an unknown posting:
credentials problems are told apart by their message text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bot.orders.errors import OrderBackendError

_AUTH_TEXT = re.compile(r"api-?key|client-id|offer not signed", re.IGNORECASE)
CIRCLE_OPEN = "circle is open"


class OzonError(OrderBackendError):
    """A call to the Seller API failed. `status` is the HTTP status, `code` the rpcStatus code."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        self.message, self.status, self.code = message, status, code
        super().__init__(f"HTTP {status}, code {code}: {message}" if status else message)


class OzonAuthError(OzonError):
    """The key is wrong, deactivated, expired, IP-restricted or lacks the method's role."""


class OzonNotFound(OzonError):
    """The posting (or other object) does not exist for this seller."""


class OzonRateLimited(OzonError):
    """429, code 8 or 'Circle is open': the call was not processed; retry after `retry_after` seconds."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 retry_after: float | None = None, circle_open: bool = False) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after, self.circle_open = retry_after, circle_open


class OzonTransientError(OzonError):
    """5xx, a timeout, a dropped connection or an unreadable body: the same call may work later."""


class OzonRequestError(OzonError):
    """Any other 4xx: our request is wrong (bad parameter, conflict, retired method). Not retried."""


class CircuitOpen(OzonError):
    """Calls are suspended after repeated failures; the breaker lets a probe through in `retry_after`
    seconds (None: a probe is out now)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CancelDisabled(PermissionError):
    """Cancelling postings through the API is off (construct the provider with allow_cancel=True)."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _rpc_status(body: Any) -> tuple[int | None, str]:
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or "")


def check_response(status: int, headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    """Return the JSON object of a successful reply, or raise the exception that fits the failure."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise OzonTransientError("malformed JSON in a successful reply", status=status)
        return body
    code, message = _rpc_status(body)
    message = message or f"HTTP {status}"
    if CIRCLE_OPEN in message.lower() or status == 429 or code == 8:
        raise OzonRateLimited(message, status=status, code=code,
                              retry_after=parse_retry_after(headers.get("Retry-After")),
                              circle_open=CIRCLE_OPEN in message.lower())
    if status in (401, 403) or code in (7, 16) or _AUTH_TEXT.search(message):
        raise OzonAuthError(message, status=status, code=code)
    if status == 404:
        raise OzonNotFound(message, status=status, code=code)
    if status >= 500:
        raise OzonTransientError(message, status=status, code=code)
    raise OzonRequestError(message, status=status, code=code)
