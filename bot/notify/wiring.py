"""Proactive messages in a running Telegram bot (bot/telegram/run.py):

    notify = ProactiveMessages(app, application.bot, settings)   # before the Application starts
    notify.install(application)       # the digest's order-card buttons in the agents' group
    await notify.start()              # the sender (messages a crash left first), the digest
    ...
    await notify.stop()

The order mirror subscribes `app.notifier` (the buyers' ChangeSink) wherever it is built; what
the notifier and the digest queue, the sender here delivers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from telegram import Bot, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot.engine.ports import Clock, SystemClock
from bot.handoff.card import AgentTexts
from bot.i18n.render import buyer_timezone
from bot.notify.digest import CARD_PREFIX, AtRisk, Digest, MirrorAtRisk, OrdersAtRisk
from bot.notify.sender import Limits, Sender
from bot.orders.errors import OrderBackendError
from bot.orders.numbers import parse_order_number
from bot.settings import Settings

log = logging.getLogger(__name__)


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.notify_messages_per_second, settings.notify_chat_seconds,
                  settings.notify_group_per_minute)


def at_risk_source(orders: Any) -> AtRisk | None:
    """The order backend's postings at risk: its own query, the order mirror's deadlines, or every
    order of the demo shop. None: the backend cannot list postings (the Seller API without the mirror)."""
    own = vars(orders) if hasattr(orders, "__dict__") else {}  # the mirror forwards unknown names upstream
    if callable(getattr(type(orders), "postings_at_risk", None)):
        return orders
    if hasattr(own.get("store"), "overdue"):
        return MirrorAtRisk(own["store"])
    if callable(getattr(type(orders), "all_orders", None)):
        return OrdersAtRisk(orders.all_orders)
    return None


class ProactiveMessages:
    def __init__(self, app: Any, bot: Bot, settings: Settings, *, clock: Clock | None = None,
                 at_risk: AtRisk | None = None, limits: Limits | None = None) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock or SystemClock()
        self.sender = Sender(bot, app.notify, limits=limits or limits_of(settings))
        app.notifier.wake = self.sender.wake
        self.texts = AgentTexts(app.renderer, settings.agents_lang, buyer_timezone())
        self.digest: Digest | None = None
        source = at_risk or at_risk_source(app.orders)
        if settings.agents_chat_id is not None and settings.agent_digest_minutes > 0:
            if source is None:
                log.warning("AGENT_DIGEST_MINUTES is set, but the order backend cannot list postings at risk: "
                            "no digest")
            else:
                self.digest = Digest(source, app.notify, self.texts, int(settings.agents_chat_id),
                                     minutes=settings.agent_digest_minutes,
                                     horizon=timedelta(hours=settings.agent_digest_cutoff_hours), clock=self.clock,
                                     wake=self.sender.wake)

    def install(self, application: Application) -> None:
        self.sender.bot = application.bot
        if self.settings.agents_chat_id is not None:
            application.add_handler(CallbackQueryHandler(self.on_card_button, pattern=f"^{CARD_PREFIX}"))

    def purgers(self) -> list[Any]:
        """Retention's share: proactive messages sent or failed longer ago than the transcripts are kept."""
        days = self.settings.retention_transcript_days
        if not days:
            return []

        async def purge(now: float) -> dict[str, int]:
            return {"notify_outbox": await self.app.notify.purge(now - days * 86400)}

        return [purge]

    async def start(self, *, leader: Callable[[], bool] | None = None) -> None:
        """Start the sender and the digest; several processes: they work only while `leader()` says so."""
        self.sender.leader = leader
        self.sender.start()
        if self.digest is not None:
            self.digest.leader = leader
            self.digest.start()

    async def stop(self) -> None:
        if self.digest is not None:
            await self.digest.stop()
        await self.sender.stop()

    async def on_card_button(self, update: Update, context: Any = None) -> None:
        """A digest's order button: the order card, fresh from the order backend, under the digest."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        with contextlib.suppress(TelegramError):
            await query.answer()
        group = int(self.settings.agents_chat_id or 0)
        if query.message.chat.id != group:
            return  # only the agents' group has these buttons
        posting = (query.data or "")[len(CARD_PREFIX):]
        ref = parse_order_number(posting)
        now = self.clock.now()
        try:
            found = await self.app.orders.find(ref) if ref is not None else []
            found = [o for o in found if o.posting_number == posting] or found
            text = (self.texts.order_card(found[0], now, fresh=True) if found
                    else self.texts.t("notify.digest.not_found", posting=posting))
        except OrderBackendError as exc:
            log.warning("order card for %s: %s", posting, exc)
            text = "⚠️ " + self.texts.t("agent_card.backend_unavailable")
        thread = getattr(query.message, "message_thread_id", None)
        try:
            await query.get_bot().send_message(group, text, parse_mode=ParseMode.HTML, message_thread_id=thread,
                                               reply_parameters=ReplyParameters(query.message.message_id,
                                                                                allow_sending_without_reply=True))
        except TelegramError as exc:
            log.warning("order card for %s not sent: %s", posting, exc)
