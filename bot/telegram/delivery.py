"""Sending with Telegram's failure modes: RetryAfter honoured, Forbidden recorded, network errors
retried with backoff (all bounded), and every transcript message marked delivered or not."""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.store.base import ConversationStore
from bot.telegram.render import Rendered

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # tries per Telegram call, whatever the error
    backoff: float = 0.25  # first wait after a network error; doubles each time
    max_retry_after: float = 60.0  # a longer flood wait is not waited for: the send fails


class DeliveryFailed(Exception):
    def __init__(self, reason: str, error: Exception) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason, self.error = reason, error


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str = "call") -> T:
    """Run `call` until it succeeds or the policy gives up; raises DeliveryFailed(reason)."""
    delay = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        last = attempt == policy.attempts
        try:
            return await call()
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            if last or wait > policy.max_retry_after:
                raise DeliveryFailed("retry_after", exc) from exc
            log.warning("%s: flood control, waiting %.1fs (attempt %d)", what, wait, attempt)
            await asyncio.sleep(wait)
        except Forbidden as exc:
            raise DeliveryFailed("forbidden", exc) from exc
        except BadRequest as exc:
            raise DeliveryFailed("bad_request", exc) from exc
        except (TimedOut, NetworkError) as exc:
            if last:
                raise DeliveryFailed("timed_out" if isinstance(exc, TimedOut) else "network", exc) from exc
            await asyncio.sleep(delay)
            delay *= 2
        except TelegramError as exc:
            raise DeliveryFailed("telegram", exc) from exc
    raise AssertionError("unreachable")


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
                    await with_retries(lambda: bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML,
                                                                reply_markup=markup), policy, what=f"chat {chat_id}")
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
