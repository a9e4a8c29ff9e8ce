"""The webhook server: our own aiohttp app in front of a PTB Application built without an Updater.
Each update is stored, then handed on by bot/telegram/dispatch.py (as long polling does).

POST <path of the webhook URL> takes updates only with the right X-Telegram-Bot-Api-Secret-Token
(403 otherwise); GET /healthz says whether the bot is running.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application

from bot.telegram.inbox import store_raw

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
APPLICATION_KEY: web.AppKey[Application] = web.AppKey("application", Application)
SECRET_KEY: web.AppKey[str] = web.AppKey("secret", str)
# Several processes on one database (bot/telegram/shared.py): the handling that answers after the turn.
SHARED_KEY: web.AppKey[Callable[[dict], Awaitable[web.Response]]] = web.AppKey("shared")


def new_secret() -> str:
    """Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -."""
    return secrets.token_urlsafe(32)


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def webhook_app(application: Application, secret: str, path: str, *,
                shared: Callable[[dict], Awaitable[web.Response]] | None = None) -> web.Application:
    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app[APPLICATION_KEY] = application
    web_app[SECRET_KEY] = secret
    if shared is not None:
        web_app[SHARED_KEY] = shared
    web_app.router.add_post(path, receive_update)
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def receive_update(request: web.Request) -> web.Response:
    application = request.app[APPLICATION_KEY]
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[SECRET_KEY].encode()):
        log.warning("webhook request from %s with a wrong or missing secret token", request.remote)
        return web.Response(status=403, text="forbidden")
    try:
        data = await request.json(loads=json.loads)
    except ValueError:
        return web.Response(status=400, text="bad update")
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return web.Response(status=400, text="bad update")
    shared = request.app.get(SHARED_KEY)
    if shared is not None:  # several processes: answer once the update is handled
        return await shared(data)
    if await store_raw(application.bot_data["app"].store, [data]):  # new: a crash from here on replays it
        application.bot_data["dispatcher"].start(data)
    return web.Response(text="ok")  # a repeat is stored and handled (or being handled) already


async def healthz(request: web.Request) -> web.Response:
    application = request.app[APPLICATION_KEY]
    running = application.running
    return web.json_response({"ok": running}, status=200 if running else 503)


async def start_server(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
