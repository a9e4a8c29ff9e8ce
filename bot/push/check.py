"""`ozonbot orders push-check`: is the push endpoint configured and answering Ozon's PING as Ozon
expects, and what to enter in the seller cabinet.

It sends a TYPE_PING to the bot's own endpoint (the running bot at OZON_PUSH_LISTEN; if nothing
listens there, a temporary endpoint started on that address, which checks the configuration and
the port) and, when OZON_PUSH_URL is set, through the public URL as well.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from bot.orders.mirror.push import POSTING_TYPES
from bot.orders.mirror.store import MemoryMirrorStore
from bot.push.endpoint import PushEndpoint, parse_networks, push_path
from bot.push.service import listen_address
from bot.settings import Settings

CABINET = "https://seller.ozon.ru/app/settings/notifications-api"
TIMEOUT = 5.0  # Ozon's own limit for an answer


@dataclass
class CheckResult:
    ok: bool
    lines: list[str] = field(default_factory=list)


async def ping(url: str) -> str:
    """'' when `url` answers a TYPE_PING as Ozon requires, else what is wrong."""
    body = {"message_type": "TYPE_PING", "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http, \
                http.post(url, json=body) as resp:
            if resp.status != 200:
                return f"HTTP {resp.status} (Ozon needs 200)"
            if resp.content_type != "application/json":
                return f"Content-Type {resp.content_type} (Ozon needs application/json)"
            data = await resp.json()
    except TimeoutError:
        return f"no answer within {TIMEOUT:g} s"
    except (aiohttp.ClientError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(data, dict) or not {"version", "name", "time"} <= data.keys():
        return f"the answer lacks version, name or time: {data!r}"
    try:
        datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
    except ValueError:
        return f"'time' is not a date-time: {data['time']!r}"
    return ""


def _mask(path: str, secret: str, show: bool) -> str:
    return path if show else path.replace(secret, secret[:3] + "…")


async def push_check(settings: Settings, *, listen: str | None = None, show_secret: bool = False) -> CheckResult:
    out = CheckResult(True)
    say = out.lines.append
    if settings.ozon_push_secret is None:
        say("OZON_PUSH_SECRET is not set: push notifications are off (the mirror polls the Seller API).")
        say(f"To turn them on, set e.g. OZON_PUSH_SECRET={secrets.token_urlsafe(24)} and OZON_PUSH_URL "
            "(the public https address that reaches the bot), then run this again.")
        out.ok = False
        return out
    secret = settings.ozon_push_secret.get_secret_value()
    try:
        allow = parse_networks(settings.ozon_push_allow_ips)
        host, port = listen_address(listen or settings.ozon_push_listen)
    except ValueError as exc:
        return CheckResult(False, [str(exc)])
    path = push_path(secret)
    local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}{path}"
    problem = await ping(local)
    if problem and ("Connect" in problem or "refused" in problem.lower()):
        say(f"nothing listens on {host}:{port} (the bot is not running): checking a temporary endpoint there")
        endpoint = PushEndpoint(MemoryMirrorStore(), secret)  # no allow list: this ping comes from here
        from aiohttp import web

        app = web.Application()
        endpoint.attach(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            problem = await ping(local)
        except OSError as exc:
            problem = f"cannot listen on {host}:{port}: {exc}"
        finally:
            await runner.cleanup()
    if problem:
        say(f"local endpoint {_mask(local, secret, show_secret)}: {problem}")
        out.ok = False
    else:
        say(f"local endpoint {_mask(local, secret, show_secret)}: answers TYPE_PING as Ozon expects")
    public = settings.ozon_push_url.rstrip("/")
    if not public:
        say("OZON_PUSH_URL is not set: give the bot a public https address (a reverse proxy to "
            f"{host}:{port}, or the webhook's server) and set it, so Ozon can reach it.")
        out.ok = False
    else:
        problem = await ping(public + path)
        if problem.startswith("HTTP 403") and allow:
            say(f"public URL: refused with 403 from this machine: OZON_PUSH_ALLOW_IPS lets only {len(allow)} "
                "networks in (as it should); Ozon's own check will come from its addresses")
        elif problem:
            say(f"public URL {_mask(public + path, secret, show_secret)}: {problem}")
            out.ok = False
        else:
            say(f"public URL {_mask(public + path, secret, show_secret)}: answers TYPE_PING")
    if not allow:
        say("OZON_PUSH_ALLOW_IPS is empty: anyone who learns the URL can post to it. 'ozon' allows only "
            "Ozon's documented networks (195.34.21.0/24, 185.73.192.0/22, 91.223.93.0/24).")
    say("")
    say(f"In the seller cabinet: Settings → Notifications ({CABINET}), tab 'Push notifications':")
    say("  1. turn notifications on and press 'Connect';")
    say(f"  2. URL: {_mask((public or 'https://<your host>') + path, secret, show_secret)}"
        + ("" if show_secret else "   (run with --show-secret to print it whole)"))
    say("  3. press 'Check' (Ozon sends TYPE_PING), then 'Save';")
    say("  4. notification types: " + ", ".join(sorted(POSTING_TYPES))
        + " (and TYPE_NEW_MESSAGE when the Ozon chat adapter is used).")
    say("Polling continues either way (MIRROR_SYNC_SECONDS): Ozon says new-posting pushes can come late.")
    return out
