"""check_response: HTTP status + rpcStatus body -> the specific exception."""

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.orders.errors import OrderBackendError
from bot.orders.ozon.errors import (
    OzonAuthError,
    OzonNotFound,
    OzonRateLimited,
    OzonRequestError,
    OzonTransientError,
    check_response,
    parse_retry_after,
)


def body(code, message):
    return json.dumps({"code": code, "message": message, "details": []}).encode()


@pytest.mark.parametrize("status, raw, expected", [
    (404, body(5, "Invalid Api-Key, please check the key and try again"), OzonAuthError),
    (403, body(7, "Api-key is deactivated, use another one or generate a new one"), OzonAuthError),
    (403, body(7, "Api-Key is missing a required role for a method"), OzonAuthError),
    (403, body(7, "Api-Key is restricted to specific IP addresses"), OzonAuthError),
    (403, b"Offer not signed", OzonAuthError),
    (400, body(7, "permission denied"), OzonAuthError),
    (404, body(5, "Posting not found"), OzonNotFound),
    (404, b"", OzonNotFound),
    (429, body(8, "You have reached request rate limit per second"), OzonRateLimited),
    (400, body(8, "You have reached request rate limit per second"), OzonRateLimited),
    (403, body(7, "Circle is open"), OzonRateLimited),
    (500, body(13, "Internal error"), OzonTransientError),
    (502, b"<html>Bad Gateway</html>", OzonTransientError),
    (503, b"", OzonTransientError),
    (400, body(3, "Client-Id header value should be positive integer"), OzonAuthError),
    (400, body(3, "invalid posting_number"), OzonRequestError),
    (409, body(9, "conflict"), OzonRequestError),
    (410, body(0, "obsolete method cannot be used"), OzonRequestError),
])
def test_failures_map_to_specific_exceptions(status, raw, expected):
    with pytest.raises(expected) as info:
        check_response(status, {}, raw)
    assert info.value.status == status
    assert isinstance(info.value, OrderBackendError)


def test_success_returns_the_json_object():
    body = b'{"result": {"posting_number": "1-2-3"}}'
    assert check_response(200, {}, body) == {"result": {"posting_number": "1-2-3"}}


@pytest.mark.parametrize("raw", [b'{"result": ', b"", b"[1, 2]", b"null", b"<html>"])
def test_malformed_success_is_transient(raw):
    with pytest.raises(OzonTransientError):
        check_response(200, {}, raw)


def test_rate_limit_carries_retry_after():
    with pytest.raises(OzonRateLimited) as info:
        check_response(429, {"Retry-After": "3"}, body(8, "You have reached request rate limit per second"))
    assert info.value.retry_after == 3.0 and not info.value.circle_open
    with pytest.raises(OzonRateLimited) as info:
        check_response(403, {}, body(7, "Circle is open"))
    assert info.value.circle_open and info.value.retry_after is None


def test_retry_after_forms():
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
