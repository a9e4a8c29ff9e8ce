"""Sending with Telegram's failure modes: RetryAfter honoured, Forbidden recorded, network errors
retried with backoff (all bounded by a `bot.retry.RetryPolicy`, whose defaults are the ones for
Telegram: 4 tries, 0.25 s doubling, a flood wait of up to 60 s), and every transcript message marked
delivered or not."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.warnings import PTBUserWarning

from bot.retry import RetryPolicy, retry_call, seconds
from bot.store.base import ConversationStore
from bot.telegram.keyboards import Keyboard
from bot.telegram.render import Rendered
from bot.telegram.request_aiohttp import AiohttpRequest

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeliveryFailed(Exception):
    def __init__(self, reason: str, error: Exception) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason, self.error = reason, error


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return seconds(value)


def _transient(exc: Exception) -> bool:
    """Flood control, timeouts and network errors are retried; a refusal (400, 403) never is."""
    return isinstance(exc, RetryAfter) or (isinstance(exc, NetworkError) and not isinstance(exc, BadRequest))


def _retry_after(exc: Exception) -> float | None:
    return retry_seconds(exc) if isinstance(exc, RetryAfter) else None


def _reason(exc: TelegramError) -> str:
    for kind, reason in ((RetryAfter, "retry_after"), (Forbidden, "forbidden"), (BadRequest, "bad_request"),
                         (TimedOut, "timed_out"), (NetworkError, "network")):
        if isinstance(exc, kind):
            return reason
    return "telegram"


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str = "call") -> T:
    """Run `call` until it succeeds or the policy gives up; raises DeliveryFailed(reason)."""
    def on_retry(exc: Exception, attempt: int, wait: float) -> None:
        if isinstance(exc, RetryAfter):
            log.warning("%s: flood control, waiting %.1fs (attempt %d)", what, wait, attempt + 1)

    try:
        return await retry_call(call, policy, retryable=_transient, retry_after=_retry_after, on_retry=on_retry)
    except TelegramError as exc:
        raise DeliveryFailed(_reason(exc), exc) from exc


# On another transport than ours, send_html calls sendMessage through the generic do_api_request on
# purpose (see there); PTB warns about that on every call.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'", category=PTBUserWarning)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _wire(markup: Markup) -> dict[str, Any]:
    return markup.wire() if isinstance(markup, Keyboard) else markup.to_dict()


async def send_html(bot: Bot, chat_id: int, text: str, markup: Markup | None = None) -> None:
    """sendMessage without turning Telegram's answer into a Message: nothing reads it, and parsing
    it is ~100 us of CPU a reply (measured in bench/telegram.py). On our aiohttp transport the call
    skips PTB's per-call glue too (`AiohttpRequest.call`). Errors are raised as by send_message."""
    kwargs: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML.value}
    request = bot.request
    if isinstance(request, AiohttpRequest):
        if markup is not None:
            kwargs["reply_markup"] = _wire(markup)
        await request.call(f"{bot.base_url}/sendMessage", kwargs)
        return
    if markup is not None:
        kwargs["reply_markup"] = markup
    await bot.do_api_request("sendMessage", api_kwargs=kwargs)


async def answer_query(bot: Bot, query_id: str) -> None:
    """answerCallbackQuery with no text: the buyer's spinner stops."""
    request = bot.request
    if isinstance(request, AiohttpRequest):
        await request.call(f"{bot.base_url}/answerCallbackQuery", {"callback_query_id": query_id})
    else:
        await bot.answer_callback_query(query_id)


async def send_rendered(bot: Bot, store: ConversationStore | None, chat_id: int, messages: list[Rendered],
                        policy: RetryPolicy, *, conversation: str = "") -> bool:
    """Send in order. Marks each transcript message delivered or not. False if any failed."""
    ok = True
    blocked = False
    for message in messages:
        error = ""
        if blocked:
            error = "forbidden"
        else:
            for i, chunk in enumerate(message.chunks):
                markup = message.markup if i == len(message.chunks) - 1 else None
                try:
                    await with_retries(partial(send_html, bot, chat_id, chunk, markup), policy, what=f"chat {chat_id}")
                except DeliveryFailed as exc:
                    error = exc.reason
                    blocked = exc.reason == "forbidden"
                    if blocked:
                        log.info("chat %s blocked the bot; reply %s kept as undelivered", chat_id, message.message_id)
                    else:
                        log.error("reply %s to chat %s (conversation %s) not delivered: %s",
                                  message.message_id, chat_id, conversation, exc)
                    break
        ok = ok and not error
        if store is not None and message.message_id is not None:
            await store.mark_delivery(message.message_id, not error, error)
    return ok
