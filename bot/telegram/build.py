"""`build_telegram(app, settings, ...)`: the PTB Application for buyers, every collaborator injectable."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, HTTPXRequest

from bot.app import App
from bot.conversation.ports import HandoffPort
from bot.conversation.ratelimit import RateLimiter
from bot.conversation.service import Conversation
from bot.orders.signed_link import LinkCheck, check_payload
from bot.settings import Settings
from bot.telegram import inbox
from bot.telegram.channel import TelegramChannel
from bot.telegram.commands import set_commands
from bot.telegram.delivery import RetryPolicy
from bot.telegram.dispatch import Dispatcher
from bot.telegram.handlers import BuyerHandlers
from bot.telegram.inbound import LinkVerifier, buyer_of
from bot.telegram.ordering import PerChatUpdateProcessor
from bot.telegram.polling import Poller
from bot.telegram.request_aiohttp import AiohttpRequest, SharedSession

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30  # seconds getUpdates waits for news (long polling)


def make_requests(settings: Settings, pool_size: int = 256) -> tuple[BaseRequest, BaseRequest]:
    """(request for API calls, request for getUpdates) on the configured transport."""
    if settings.telegram_transport == "aiohttp":
        shared = SharedSession(pool_size)
        return AiohttpRequest(shared), AiohttpRequest(shared, read_timeout=POLL_TIMEOUT + 10)
    return (HTTPXRequest(connection_pool_size=pool_size, pool_timeout=5.0),
            HTTPXRequest(connection_pool_size=1, read_timeout=POLL_TIMEOUT + 10))


def link_verifier(settings: Settings) -> LinkVerifier | None:
    """Signed order deep links (/start <payload>), when LINK_SECRET is set."""
    if settings.link_secret is None:
        return None
    secret = settings.link_secret.get_secret_value()
    ttl = settings.link_ttl_days

    def verify(payload: str) -> LinkCheck | None:
        try:
            return check_payload(payload, secret, ttl_days=ttl)
        except Exception:  # noqa: BLE001 - a bad link is just an unverified /start
            log.info("deep-link payload rejected")
            return None

    return verify


def build_telegram(app: App, settings: Settings, *, handoff: HandoffPort | None = None,
                   request: BaseRequest | None = None, get_updates_request: BaseRequest | None = None,
                   webhook: bool = False, policy: RetryPolicy | None = None,
                   concurrency: int = 512) -> Application:
    """The buyer-facing Application, without PTB's Updater: long polling is bot/telegram/polling.py
    (`bot_data["poller"]`), the webhook bot/telegram/webhook.py."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api_request, updates_request = make_requests(settings)
    processor = PerChatUpdateProcessor(concurrency)
    builder = (ApplicationBuilder()
               .token(settings.telegram_bot_token.get_secret_value())
               .base_url(settings.telegram_api_base)
               .base_file_url(settings.telegram_file_base)
               .request(request or api_request)
               .concurrent_updates(processor)
               .updater(None))
    if not webhook:
        builder = builder.get_updates_request(get_updates_request or updates_request)
    application = builder.build()
    channel = TelegramChannel(application.bot, app.store, policy)
    conversation = Conversation(app, channel, handoff, limiter=RateLimiter(settings.buyer_messages_per_minute),
                                budget=settings.lookup_budget_seconds)
    handlers = BuyerHandlers(conversation, policy=policy, verify_link=link_verifier(settings))
    processor.on_queued = handlers.on_queued  # "still checking" to a buyer whose turn is past its budget
    application.bot_data["app"] = app
    application.bot_data["conversation"] = conversation
    application.bot_data["handlers"] = handlers
    dispatcher = application.bot_data["dispatcher"] = Dispatcher(application, app.store, handlers)
    if not webhook:  # every update is stored before the next getUpdates confirms it to Telegram
        application.bot_data["poller"] = Poller(application, app.store, dispatcher, timeout=POLL_TIMEOUT)
    application.add_handler(handlers.handler())
    inbox.install(application, app.store)
    application.add_error_handler(_on_error)
    return application


async def on_startup(application: Application) -> None:
    """After getMe: the command menus in zh and ru (a failure here is logged, not fatal)."""
    app: App = application.bot_data["app"]
    try:
        await set_commands(application.bot, app.text, app.content.catalogs.languages, app.settings.default_lang)
    except TelegramError as exc:
        log.warning("setMyCommands failed: %s", exc)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Errors that escaped the handlers (they catch their own): log, and answer the buyer if we can."""
    chat = update.effective_chat if isinstance(update, Update) else None
    log.error("unhandled error for chat %s", chat.id if chat else "-", exc_info=context.error)
    conversation: Conversation | None = context.application.bot_data.get("conversation")
    if chat is not None and conversation is not None and chat.type == "private":
        await conversation.internal_error(str(chat.id), buyer_of(update))  # type: ignore[arg-type]
