"""A fake of the Seller API's chat methods: a real aiohttp app on 127.0.0.1, port 0.

Buyers write (`buyer_writes`, which also returns the TYPE_NEW_MESSAGE push Ozon would send); the
bot lists unread chats (/v3/chat/list), reads history (/v3/chat/history), answers
(/v1/chat/send/message, /v1/chat/send/file) and marks read (/v2/chat/read). `subscription=False`
answers the methods Premium Plus/Pro gates with 403 code 7, as Ozon does for a seller without it.
A closed chat refuses sends. Every request is recorded with its arrival time (requests per second
per Client-Id), and faults are scripted per path as in tests/fake_ozon.py.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fake_ozon import API_KEY, BAD_KEY, CLIENT_ID, Call, Fault

LIST, HISTORY = "/v3/chat/list", "/v3/chat/history"
SEND, SEND_FILE, READ = "/v1/chat/send/message", "/v1/chat/send/file", "/v2/chat/read"
ROLES = "/v1/roles"
GATED = (SEND, SEND_FILE, READ)
NO_SUBSCRIPTION = {"code": 7, "message": "Method is available only for sellers with Premium Plus or Premium Pro "
                                         "subscription", "details": []}
CHAT_IS_CLOSED = {"code": 7, "message": "chat is closed", "details": []}
_IDS = itertools.count(3000000000817031942)


def max_per_second(times: list[float]) -> int:
    """The most of these moments (seconds) that fall within any 1-second window."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeChat:
    chat_id: str
    chat_type: str = "Buyer_Seller"
    status: str = "Opened"
    order_number: str = ""
    buyer_id: str = "115568"
    messages: list[dict[str, Any]] = field(default_factory=list)
    read_upto: int = 0  # the seller read every buyer message up to this id
    sent: list[str] = field(default_factory=list)  # texts the seller sent, in order
    files: list[tuple[str, bytes]] = field(default_factory=list)

    def unread(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["user"]["type"] == "Customer" and int(m["message_id"]) > self.read_upto]


class FakeOzonChat:
    """Use as `async with FakeOzonChat() as fake:`; point an `OzonClient` at `fake.url`."""

    def __init__(self, *, subscription: bool = True, latency: float = 0.0, client_id: str = CLIENT_ID,
                 api_key: str = API_KEY) -> None:
        self.subscription, self.latency = subscription, latency
        self.client_id, self.api_key = client_id, api_key
        self.chats: dict[str, FakeChat] = {}
        self.calls: list[Call] = []
        self.roles = [{"name": "Admin", "methods": [LIST, HISTORY, SEND, SEND_FILE, READ]}]
        self._script: dict[str, deque[Fault]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.on_send: list[Any] = []  # callables (chat_id, text) run at each accepted send (figures)

    # ---- buyers -------------------------------------------------------------------------------
    def chat(self, chat_id: str, **kw: Any) -> FakeChat:
        if chat_id not in self.chats:
            self.chats[chat_id] = FakeChat(chat_id, **kw)
        return self.chats[chat_id]

    def buyer_writes(self, chat_id: str, text: str, *, order_number: str | None = None, at: datetime | None = None,
                     image: bool = False) -> dict[str, Any]:
        """A buyer message in the chat; returns the TYPE_NEW_MESSAGE push Ozon sends for it."""
        chat = self.chat(chat_id, order_number=order_number or "")
        if order_number:
            chat.order_number = order_number
        message = {"message_id": str(next(_IDS)), "created_at": _iso(at or datetime.now(UTC)),
                   "user": {"id": chat.buyer_id, "type": "Customer"}, "data": [text], "is_read": False,
                   "is_image": image, "moderate_image_status": "SUCCESS" if image else "",
                   "context": {"order_number": chat.order_number, "sku": "987654321" if chat.order_number else ""}}
        chat.messages.append(message)
        return {"message_type": "TYPE_NEW_MESSAGE", "chat_id": chat_id, "chat_type": chat.chat_type,
                "message_id": message["message_id"], "created_at": message["created_at"],
                "user": dict(message["user"]), "data": [text], "seller_id": self.client_id}

    def sent(self, chat_id: str) -> list[str]:
        return list(self.chats[chat_id].sent) if chat_id in self.chats else []

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def max_per_second(self) -> int:
        """The most requests that arrived within any 1-second window."""
        return max_per_second([c.at for c in self.calls])

    def fail(self, path: str, *faults: Fault) -> None:
        self._script.setdefault(path, deque()).extend(faults)

    # ---- the server ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeOzonChat:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else {}
        self.calls.append(Call(time.monotonic(), path, body))
        if request.headers.get("Client-Id") != self.client_id or request.headers.get("Api-Key") != self.api_key:
            return web.json_response(BAD_KEY, status=404)
        if self.latency:
            await asyncio.sleep(self.latency)
        for key in (path, "*"):
            script = self._script.get(key)
            if script:
                fault = script.popleft()
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    return fault.response()
                break
        if path in GATED and not self.subscription:
            return web.json_response(NO_SUBSCRIPTION, status=403)
        handler = {LIST: self._list, HISTORY: self._history, SEND: self._send, SEND_FILE: self._send_file,
                   READ: self._read, ROLES: self._roles}.get(path)
        if handler is None:
            return web.json_response({"code": 5, "message": "unknown method", "details": []}, status=404)
        return await handler(body)

    async def _roles(self, body: dict[str, Any]) -> web.Response:
        return web.json_response({"roles": self.roles, "expires_at": "2027-06-01T00:00:00Z"})

    async def _list(self, body: dict[str, Any]) -> web.Response:
        f = body.get("filter") or {}
        limit = int(body.get("limit") or 30)
        if limit > 100:
            return web.json_response({"code": 3, "message": "limit must be at most 100", "details": []}, status=400)
        chats = sorted(self.chats.values(), key=lambda c: c.chat_id)
        if f.get("unread_only"):
            chats = [c for c in chats if c.unread()]
        if str(f.get("chat_status", "ALL")).upper() == "OPENED":
            chats = [c for c in chats if c.status == "Opened"]
        start = int(body.get("cursor") or 0)
        page = chats[start:start + limit]
        out = []
        for c in page:
            unread = c.unread()
            out.append({"chat": {"chat_id": c.chat_id, "chat_status": c.status, "chat_type": c.chat_type,
                                 "created_at": c.messages[0]["created_at"] if c.messages else _iso(datetime.now(UTC))},
                        "first_unread_message_id": unread[0]["message_id"] if unread else "0",
                        "last_message_id": c.messages[-1]["message_id"] if c.messages else "0",
                        "unread_count": len(unread)})
        more = start + limit < len(chats)
        return web.json_response({"chats": out, "total_unread_count": sum(len(c.unread()) for c in chats),
                                  "cursor": str(start + limit) if more else "", "has_next": more})

    async def _history(self, body: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is None:
            return web.json_response({"code": 5, "message": "chat not found", "details": []}, status=404)
        limit = int(body.get("limit") or 50)
        messages = sorted(chat.messages, key=lambda m: int(m["message_id"]))
        start = int(body.get("from_message_id") or 0)
        if body.get("direction") == "Forward":
            picked = [m for m in messages if int(m["message_id"]) >= start][:limit]
        else:
            picked = [m for m in messages if not start or int(m["message_id"]) <= start][-limit:][::-1]
        return web.json_response({"has_next": len(picked) < len(messages), "messages": picked})

    async def _send(self, body: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(body.get("chat_id")))
        text = body.get("text")
        if chat is None:
            return web.json_response({"code": 5, "message": "chat not found", "details": []}, status=404)
        if not isinstance(text, str) or not 1 <= len(text) <= 1000:
            return web.json_response({"code": 3, "message": "text must be 1-1000 characters", "details": []},
                                     status=400)
        if chat.status != "Opened":
            return web.json_response(CHAT_IS_CLOSED, status=403)
        chat.sent.append(text)
        chat.messages.append({"message_id": str(next(_IDS)), "created_at": _iso(datetime.now(UTC)),
                              "user": {"id": self.client_id, "type": "Seller"}, "data": [text], "is_read": False,
                              "is_image": False, "context": {}})
        for callback in self.on_send:
            callback(chat.chat_id, text)
        return web.json_response({"result": "success"})

    async def _send_file(self, body: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is None:
            return web.json_response({"code": 5, "message": "chat not found", "details": []}, status=404)
        chat.files.append((str(body.get("name")), base64.b64decode(body.get("base64_content") or "")))
        return web.json_response({"result": "success"})

    async def _read(self, body: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is None:
            return web.json_response({"code": 5, "message": "chat not found", "details": []}, status=404)
        chat.read_upto = max(chat.read_upto, int(body.get("from_message_id") or 0))
        return web.json_response({"unread_count": len(chat.unread())})
