"""`ozonbot run` with a token: long polling, or `--webhook URL` on our aiohttp server.

Start-up checks fail fast with one clear line (bad token, unreachable API, bad settings). The token
is never logged: it is redacted from every log record and error line.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.content_reload import format_problems, watch_and_reload
from bot.conversation.ports import HandoffPort, NoHandoff
from bot.handoff import wiring
from bot.notify.wiring import ProactiveMessages
from bot.settings import Settings
from bot.store.base import shared_inbox
from bot.telegram import inbox
from bot.telegram.build import build_telegram, on_startup
from bot.telegram.shared import SharedWebhook, recover_shared
from bot.telegram.webhook import new_secret, start_server, webhook_app, webhook_path

log = logging.getLogger(__name__)
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
EXIT_OK, EXIT_STARTUP = 0, 1


class StartupError(Exception):
    """One line for the operator; the CLI prints it and exits 1."""


@dataclass
class Serving:
    mode: str  # "polling" or "webhook"
    port: int = 0  # the webhook server's port
    secret: str = ""


class RedactToken(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def check_settings(settings: Settings, webhook: str | None, listen: str) -> tuple[str, int]:
    """Settings problems as StartupError; returns the webhook server's (host, port)."""
    if settings.telegram_bot_token is None:
        raise StartupError("TELEGRAM_BOT_TOKEN is not set")
    if not TOKEN_SHAPE.match(settings.telegram_bot_token.get_secret_value()):
        raise StartupError("TELEGRAM_BOT_TOKEN does not look like a bot token "
                           "(expected digits:letters, from @BotFather)")
    if not settings.telegram_api_base.startswith(("http://", "https://")):
        raise StartupError(f"TELEGRAM_API_BASE must be an http(s) URL, got {settings.telegram_api_base!r}")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise StartupError(f"--listen must be host:port, got {listen!r}")
    if webhook is not None:
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StartupError(f"--webhook must be an absolute https URL, got {webhook!r}")
    return host, int(port)


async def initialize(application: Application, settings: Settings) -> None:
    """getMe and the rest of PTB's start-up, with the failures turned into one clear line."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    try:
        await application.initialize()
    except TelegramError as exc:
        await _close_requests(application)
        if isinstance(exc, InvalidToken):
            raise StartupError("Telegram rejected the bot token (401 Unauthorized); check TELEGRAM_BOT_TOKEN") from exc
        detail = str(exc).replace(token, "<token>") if token else str(exc)
        if isinstance(exc, NetworkError):
            raise StartupError(f"Cannot reach the Telegram Bot API at {settings.telegram_api_base}: {detail}") from exc
        raise StartupError(f"Telegram refused to start the bot: {detail}") from exc


async def _close_requests(application: Application) -> None:
    """PTB marks the bot initialized only after getMe succeeds, so its shutdown() would skip the HTTP
    clients already opened: close them here."""
    for request in getattr(application.bot, "_request", ()):
        with contextlib.suppress(Exception):
            await request.shutdown()


@contextlib.asynccontextmanager
async def serving(application: Application, settings: Settings, *, webhook: str | None = None,
                  listen: str = "127.0.0.1:8080", handoff: HandoffPort | None = None,
                  routes: Callable[[Any], object] | None = None) -> AsyncIterator[Serving]:
    """Run the bot (polling, or the webhook server) until the block exits. `routes` adds other
    endpoints to the webhook's server (the Ozon push endpoint)."""
    from bot.handoff.desk import HandoffSetupError

    host, port = check_settings(settings, webhook, listen)
    await initialize(application, settings)
    handoff = handoff or NoHandoff()
    runner = None
    try:
        try:  # the agents' group is usable (admin, topics), and the outbox of the last run is flushed
            await wiring.start(handoff)
        except HandoffSetupError as exc:
            raise StartupError(str(exc)) from exc
        await on_startup(application)
        store = application.bot_data["app"].store
        shared_store = shared_inbox(store) if webhook is not None else None
        lease = settings.database_lease_seconds
        if shared_store is None:
            await inbox.recover(application, store)  # what a crash left unanswered
        else:  # several processes: only what a stopped one left, never what a live one is handling
            await recover_shared(application.bot_data["dispatcher"], shared_store, lease)
        await application.start()
        if webhook is None:
            poller = application.bot_data.get("poller")
            assert poller is not None, "polling needs an Application from build_telegram(webhook=False)"
            await poller.start()
            info = Serving("polling")
        else:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else new_secret()
            handle = (SharedWebhook(application.bot_data["dispatcher"], shared_store, lease)
                      if shared_store is not None else None)
            web_app = webhook_app(application, secret, webhook_path(webhook), shared=handle)
            if routes is not None:
                routes(web_app)
            runner, bound = await start_server(web_app, host, port)
            await application.bot.set_webhook(webhook, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            info = Serving("webhook", bound, secret)
        yield info
    finally:
        await wiring.stop(handoff)
        if application.bot_data.get("poller") is not None:
            await application.bot_data["poller"].stop()
        if runner is not None:
            await runner.cleanup()
        if application.running:
            await application.stop()
        await application.shutdown()


def _tell_agents(handoff: HandoffPort):
    """A refused flow or translation edit is posted to the agents' General topic, when there is one."""
    post = getattr(handoff, "post_to_agents", None)

    async def on_rejected(problems) -> None:
        if post is not None:
            await post("⚠️ <b>flows/locales change refused</b>, the bot keeps the last good version:\n"
                             f"<pre>{html.escape(format_problems(problems))}</pre>")

    return on_rejected


async def _run(settings: Settings, webhook: str | None, listen: str) -> int:
    from bot.app import build_app
    from bot.runtime import tune_gc

    app = build_app(settings)
    mirror = None
    if settings.mirror_on:  # the order mirror's sync and push endpoint
        from bot.push.service import service_for

        mirror = service_for(app.orders, settings)
    try:
        handoff = wiring.handoff_for(app, settings)  # NoHandoff when AGENTS_CHAT_ID is unset
        application = build_telegram(app, settings, handoff=handoff, webhook=webhook is not None)
        wiring.attach(handoff, application, application.bot_data["conversation"].start_flow)
        notify = ProactiveMessages(app, application.bot, settings)  # buyers' order news, the agents' digest
        notify.install(application)
        tune_gc()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with serving(application, settings, webhook=webhook, listen=listen, handoff=handoff,
                           routes=mirror.attach if mirror is not None else None) as info:
            where = f"webhook {webhook} (listening on {listen})" if info.mode == "webhook" else "long polling"
            print(f"@{application.bot.username} is running: {where}. Ctrl-C stops it.", flush=True)
            leadership = wiring.leadership(handoff, settings)  # several processes: one runs the periodic jobs
            if leadership is not None:
                leadership.start()
                if mirror is not None:
                    mirror.leader = leadership.is_leader
            if mirror is not None:
                await mirror.start()  # Ozon pushes on the webhook's server, else on OZON_PUSH_LISTEN
            leader = leadership.is_leader if leadership is not None else None
            app.start_retention([*wiring.purgers(handoff, settings), *notify.purgers()], leader=leader)
            await notify.start(leader=leader)  # buyers' order news and the agents' digest: on the leader only
            try:
                async with _ozon_chat(app, settings, handoff, leader):  # OZON_CHAT=true: Ozon's buyer chat too
                    watcher = asyncio.create_task(watch_and_reload(app, settings, on_rejected=_tell_agents(handoff),
                                                                   stop_event=stop))
                    await stop.wait()
                    await asyncio.wait_for(watcher, 5)
            finally:
                await notify.stop()
            if leadership is not None:
                await leadership.stop()
    finally:
        if mirror is not None:
            await mirror.stop()
        await app.close()
    return EXIT_OK


@contextlib.asynccontextmanager
async def _ozon_chat(app, settings: Settings, handoff: HandoffPort,
                     leader: Callable[[], bool] | None) -> AsyncIterator[None]:
    from bot.ozonchat.run import OzonChatSetupError, ozon_chat

    try:
        async with ozon_chat(app, settings, handoff, leader=leader):
            yield
    except OzonChatSetupError as exc:
        raise StartupError(str(exc)) from exc


def run_telegram(settings: Settings, webhook: str | None = None, listen: str = "127.0.0.1:8080") -> int:
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if token:
        redact = RedactToken(token)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redact)
    try:
        check_settings(settings, webhook, listen)
        return asyncio.run(_run(settings, webhook, listen))
    except StartupError as exc:
        print(f"ozonbot: {exc}", file=sys.stderr)
        return EXIT_STARTUP
