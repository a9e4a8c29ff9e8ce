"""Ozon push notifications over HTTP: `POST /ozon/push/<secret>` on the bot's own aiohttp server.

Ozon's contract (swagger "push_start" and "push_types"): answer `TYPE_PING` with
`{"version", "name", "time"}` and every other notification with HTTP 200 within 5 s (we answer
`{"result": true}`), errors with 4xx/5xx and `{"error": {"code", "message", "details"}}`. Ozon
suspends a service that answers errors for 24 h, fewer than half of the notifications with 200,
or slower than 5 s.

So the handler does the least it can: check the secret in the path (404 otherwise, as for any
unknown path) and the optional source-IP allow list, read the JSON, store it (durable, keyed by
the body: a resent notification is stored once) and answer. The mirror's push worker processes
what was stored, in the order received, and calls the handlers other parts registered for their
types (e.g. `TYPE_NEW_MESSAGE` for an Ozon chat adapter).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from bot.orders.mirror.push import PING, push_key
from bot.orders.mirror.store import MirrorStore

log = logging.getLogger(__name__)

PATH = "/ozon/push/{secret}"
OZON_NETWORKS = ("195.34.21.0/24", "185.73.192.0/22", "91.223.93.0/24")  # swagger "push_start"
MAX_BODY = 1024 * 1024
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """`OZON_PUSH_ALLOW_IPS`: comma-separated addresses or networks; `ozon` stands for Ozon's documented
    ranges. Raises ValueError naming the bad item."""
    out: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.lower() == "ozon":
            out += [ipaddress.ip_network(n) for n in OZON_NETWORKS]
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or network") from exc
    return out


def push_path(secret: str) -> str:
    return PATH.replace("{secret}", secret)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": None}}, status=status)


@dataclass
class PushEndpoint:
    store: MirrorStore
    secret: str
    allow: Sequence[Network] = ()
    trust_forwarded: bool = False  # behind a reverse proxy: the client is the first X-Forwarded-For hop
    name: str = "ozonbot"
    version: str = "1"
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set when a push was stored

    def attach(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.handle)

    def _client(self, request: web.Request) -> str:
        forwarded = request.headers.get("X-Forwarded-For", "") if self.trust_forwarded else ""
        return forwarded.split(",")[0].strip() or (request.remote or "")

    def _allowed(self, request: web.Request) -> bool:
        if not self.allow:
            return True
        try:
            address = ipaddress.ip_address(self._client(request))
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    async def handle(self, request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.match_info["secret"].encode(), self.secret.encode()):
            raise web.HTTPNotFound()
        if not self._allowed(request):
            log.warning("Ozon push from %s refused: not in OZON_PUSH_ALLOW_IPS", self._client(request))
            return error(403, "ERROR_UNKNOWN", "source address not allowed")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return error(413, "ERROR_UNKNOWN", "body too large")
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError:
            return error(400, "ERROR_PARAMETER_VALUE_MISSED", "the body is not JSON")
        kind = payload.get("message_type") if isinstance(payload, dict) else None
        if not isinstance(kind, str) or not kind:
            return error(400, "ERROR_PARAMETER_VALUE_MISSED", "message_type is missing")
        if kind == PING:
            return web.json_response({"version": self.version, "name": self.name,
                                      "time": datetime.now(UTC).isoformat(timespec="milliseconds")
                                      .replace("+00:00", "Z")})
        try:
            stored = await self.store.put_push(push_key(body), kind, body.decode("utf-8", "replace"), time.time())
        except Exception:
            log.exception("storing an Ozon push failed")
            return error(500, "ERROR_UNKNOWN", "not stored; send it again")
        if stored is not None:
            self.received.set()
        return web.json_response({"result": True})
