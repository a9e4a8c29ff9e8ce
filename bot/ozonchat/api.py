"""The Seller API's chat methods, on the order provider's transport (`OzonClient`: auth headers,
the 50 requests/s cap per Client-Id shared with the order lookups, `check_response`).

Reads (list, history) and read marks are retried like the order lookups (429, "Circle is open",
5xx, timeouts). A send is retried only when Ozon refused it unprocessed (429 / "Circle is open"):
after a 5xx or a timeout the message may have gone out, and a buyer must not get it twice.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.orders.ozon.client import OzonClient
from bot.orders.ozon.errors import OzonAuthError, OzonError, OzonRateLimited, OzonTransientError
from bot.retry import RetryPolicy, retry_call

log = logging.getLogger(__name__)

CHAT_LIST = "/v3/chat/list"
CHAT_HISTORY = "/v3/chat/history"
SEND_MESSAGE = "/v1/chat/send/message"
SEND_FILE = "/v1/chat/send/file"
CHAT_READ = "/v2/chat/read"
CHAT_METHODS = (CHAT_LIST, CHAT_HISTORY, SEND_MESSAGE, SEND_FILE, CHAT_READ)
WRITE_METHODS = (SEND_MESSAGE, SEND_FILE, CHAT_READ)  # the ones Premium Plus / Pro gates

PACER_MARGIN = 0.2  # seconds added to the pacer's 1-second window (so at most 50 calls in any 1.2 s)
CHAT_RETRY = RetryPolicy(attempts=5, base=0.5, cap=8.0, jitter=0.5, max_retry_after=10.0)
MAX_LIST = 100  # /v3/chat/list limit (spec-2026)
PRIORITY = {SEND_MESSAGE: 0, SEND_FILE: 0, CHAT_HISTORY: 1, CHAT_LIST: 1, CHAT_READ: 2}  # lower goes first


class ChatForbidden(OzonError):
    """Ozon refused a chat method for this seller (no Premium Plus/Pro, a closed window, a closed
    chat): nothing was sent. `subscription` is True when the refusal names the subscription."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message, status=status, code=code)
        low = message.lower()
        self.subscription = "premium" in low or "subscription" in low or "подписк" in low


@dataclass(frozen=True, slots=True)
class ChatInfo:
    chat_id: str
    chat_type: str  # compare case-insensitively: BUYER_SELLER (2026) / Buyer_Seller (2025, push)
    chat_status: str
    unread_count: int = 0
    first_unread_message_id: int = 0
    last_message_id: int = 0

    @property
    def with_buyer(self) -> bool:
        return self.chat_type.lower().startswith("buyer_seller")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    chat_id: str
    message_id: int
    created_at: datetime
    user_type: str  # Customer, Seller, Crm, Courier, Support, NotificationUser (any case)
    user_id: str
    data: tuple[str, ...]  # Markdown strings, read as text
    is_image: bool = False
    order_number: str = ""  # context{order_number}: the order the buyer wrote from, when Ozon gives it
    sku: str = ""

    @property
    def from_buyer(self) -> bool:
        # "Сustomer" in Ozon's own example starts with a Cyrillic С: compare from the second letter
        return self.user_type.lower()[1:] == "ustomer"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def chat_info(raw: dict[str, Any]) -> ChatInfo:
    chat = raw.get("chat") or {}
    return ChatInfo(str(chat.get("chat_id", "")), str(chat.get("chat_type", "")), str(chat.get("chat_status", "")),
                    _int(raw.get("unread_count")), _int(raw.get("first_unread_message_id")),
                    _int(raw.get("last_message_id")))


def chat_message(chat_id: str, raw: dict[str, Any]) -> ChatMessage:
    """A message of /v3/chat/history, or of a TYPE_NEW_MESSAGE / TYPE_UPDATE_MESSAGE push."""
    user = raw.get("user") or {}
    context = raw.get("context") or {}
    data = raw.get("data") or []
    return ChatMessage(chat_id, _int(raw.get("message_id")), parse_time(raw.get("updated_at") or raw.get("created_at")),
                       str(user.get("type", "")), str(user.get("id", "")),
                       tuple(str(d) for d in data) if isinstance(data, list) else (str(data),),
                       bool(raw.get("is_image")), str(context.get("order_number") or ""), str(context.get("sku") or ""))


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, (OzonRateLimited, OzonTransientError))


def _unprocessed(exc: Exception) -> bool:
    return isinstance(exc, OzonRateLimited)


def _after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, OzonRateLimited) else None


class Pacer:
    """At most `limit` chat calls in any `window` seconds, stamped when each call is let go, most
    urgent first (a reply before a history read, a read mark last).

    Every call of the Client-Id also passes the shared `RateLimits` (FIFO, stamped when granted);
    this pacer adds the order by urgency, so under a burst buyers get first replies sooner, and a
    wider margin (PACER_MARGIN) for the event loop's delay between a grant and the request leaving:
    with 0.05 s, 52 requests went out in one second in a burst of 1,000 chats (bench/ozonchat.py)."""

    def __init__(self, limit: int = 50, window: float = 1.0 + PACER_MARGIN) -> None:
        self._grants: deque[float] = deque(maxlen=limit)
        self._window = window
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None

    async def acquire(self, priority: int = 1) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._seq), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch(), name="ozonchat-pacer")
        await future

    async def _dispatch(self) -> None:
        while self._waiting:
            if len(self._grants) == self._grants.maxlen:
                wait = self._grants[0] + self._window - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():  # a caller that gave up (cancelled) takes no slot
                self._grants.append(time.monotonic())
                future.set_result(None)


class OzonChatApi:
    def __init__(self, client: OzonClient, *, retry: RetryPolicy | None = None, rps: int = 50) -> None:
        self.client = client
        self.retry = retry or CHAT_RETRY
        self.pacer = Pacer(rps)
        self.calls: dict[str, int] = {}  # per path, for figures and tests

    async def _call(self, path: str, body: dict[str, Any], *, send: bool = False) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            self.calls[path] = self.calls.get(path, 0) + 1
            await self.pacer.acquire(PRIORITY.get(path, 1))
            try:
                return await self.client.post(path, body)
            except OzonRateLimited as exc:
                if exc.retry_after:
                    self.client.limits.pause(path, exc.retry_after)
                raise
            except OzonAuthError as exc:  # 403 / code 7 on a chat method: refused, not a bad key
                if exc.status == 403 or exc.code == 7:
                    raise ChatForbidden(exc.message, status=exc.status, code=exc.code) from exc
                raise

        return await retry_call(once, self.retry, retryable=_unprocessed if send else _retryable, retry_after=_after)

    async def chat_list(self, *, unread_only: bool = True, cursor: str = "", limit: int = MAX_LIST
                        ) -> tuple[list[ChatInfo], str, bool]:
        body: dict[str, Any] = {"filter": {"chat_status": "OPENED", "unread_only": unread_only}, "limit": limit}
        if cursor:
            body["cursor"] = cursor
        reply = await self._call(CHAT_LIST, body)
        chats = [chat_info(c) for c in reply.get("chats") or [] if isinstance(c, dict)]
        has_next = reply.get("has_next") in (True, "true")
        return chats, str(reply.get("cursor") or ""), has_next

    async def history(self, chat_id: str, *, limit: int = 50, from_message_id: int | None = None,
                      direction: str = "Backward") -> list[ChatMessage]:
        """Messages of one chat, oldest first (whatever the direction asked)."""
        body: dict[str, Any] = {"chat_id": chat_id, "direction": direction, "limit": max(1, min(limit, 1000))}
        if from_message_id:
            body["from_message_id"] = from_message_id
        reply = await self._call(CHAT_HISTORY, body)
        messages = [chat_message(chat_id, m) for m in reply.get("messages") or [] if isinstance(m, dict)]
        return sorted(messages, key=lambda m: m.message_id)

    async def send_message(self, chat_id: str, text: str) -> None:
        if not 1 <= len(text) <= 1000:
            raise ValueError(f"an Ozon chat message is 1-1000 characters, got {len(text)}")
        await self._call(SEND_MESSAGE, {"chat_id": chat_id, "text": text}, send=True)

    async def send_file(self, chat_id: str, name: str, data: bytes) -> None:
        await self._call(SEND_FILE, {"chat_id": chat_id, "name": name,
                                     "base64_content": base64.b64encode(data).decode()}, send=True)

    async def read(self, chat_id: str, message_id: int) -> int:
        """Mark `message_id` and every earlier message of the chat read; the unread count after."""
        reply = await self._call(CHAT_READ, {"chat_id": chat_id, "from_message_id": message_id})
        return _int(reply.get("unread_count"))

    async def close(self) -> None:
        await self.client.close()
