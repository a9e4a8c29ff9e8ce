"""Carrying out what flows ask for (`Action` effects): every action is recorded in the store, and a
cancellation request before packing is sent to the Seller API when `OZON_ALLOW_CANCEL` is on.
Buyers' order news is switched on (`watch_order`, only for an order this buyer proved) and off
(`unwatch_orders`, /stop) here; the buyer is told only once the watch is written.

Agents see the same actions as notices in their group (bot/handoff); this module is what the bot
itself does, whatever the adapter.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.engine.effects import Action
from bot.engine.ports import Clock
from bot.engine.state import ConversationState
from bot.i18n.render import Texts
from bot.notify.records import NotifyRecords
from bot.orders.errors import OrderBackendError
from bot.orders.facts import BEFORE_PACKING
from bot.orders.numbers import parse_order_number
from bot.store.base import ConversationStore, Outgoing

log = logging.getLogger(__name__)

CANCELLED, NOT_CANCELLED = "actions.cancelled", "actions.cancel_failed"


class ActionRunner:
    def __init__(self, store: ConversationStore, orders: Any, renderer: Texts, *, allow_cancel: bool = False,
                 watches: NotifyRecords | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.orders = orders
        self.renderer = renderer
        self.allow_cancel = allow_cancel
        self.watches = watches  # bot.notify.records.NotifyRecords; None: order news is not offered here
        self.clock = clock

    async def run(self, chat_id: str, action: Action, lang: str,
                  state: ConversationState | None = None) -> list[Outgoing]:
        """Record the action; return any extra messages for the buyer. `state`: the conversation
        after the turn (what the buyer proved)."""
        await self.store.record_action(chat_id, action.name, action.args)
        if action.name == "watch_order":
            return [self._say(*await self._watch(chat_id, str(action.args.get("posting") or ""), lang, state), lang)]
        if action.name == "unwatch_orders":
            return [self._say(*await self._unwatch(chat_id), lang)]
        if action.name == "request_cancellation" and self.allow_cancel and hasattr(self.orders, "cancel_posting"):
            return await self._cancel(chat_id, str(action.args.get("posting") or ""),
                                      str(action.args.get("reason") or ""), lang)
        return []

    def _say(self, msgid: str, params: dict[str, Any], count: int | None, lang: str) -> Outgoing:
        return Outgoing("say", self.renderer.text(msgid, lang, params, count), {"msg": msgid})

    async def _watch(self, chat_id: str, posting: str, lang: str,
                     state: ConversationState | None) -> tuple[str, dict[str, Any], int | None]:
        ref = parse_order_number(posting)
        proven = state is not None and ref is not None and ref.order_number in state.verified
        if self.watches is None or not proven or ref is None:
            return "notify.watch_failed", {}, None  # never for an order this buyer has not proved
        try:
            now = self.clock.now().timestamp() if self.clock is not None else time.time()
            new = await self.watches.watch(chat_id, posting, ref.order_number, lang, now)
        except Exception:  # the buyer hears "try later", never that it worked
            log.exception("watching %s for chat %s", posting, chat_id)
            return "notify.watch_failed", {}, None
        await self.store.record_action(chat_id, "watch_result", {"posting": posting, "watching": True})
        return ("notify.watching" if new else "notify.already_watching"), {"posting": posting}, None

    async def _unwatch(self, chat_id: str) -> tuple[str, dict[str, Any], int | None]:
        if self.watches is None:
            return "notify.nothing_to_stop", {}, None
        try:
            ended = await self.watches.unwatch(chat_id)
        except Exception:
            log.exception("ending the watches of chat %s", chat_id)
            return "notify.watch_failed", {}, None
        if not ended:
            return "notify.nothing_to_stop", {}, None
        return "notify.stopped", {"count": ended}, ended

    async def _cancel(self, chat_id: str, posting: str, reason: str, lang: str) -> list[Outgoing]:
        ref = parse_order_number(posting)
        if ref is None or ref.posting_number is None:
            return []
        try:
            found = await self.orders.find(ref)
            if not found or found[0].status not in BEFORE_PACKING:
                return []  # being packed or later: only the seller can decide; the request is recorded
            picked = await self._reason(reason)
            if picked is None:
                return []  # no buyer-side reason: never cancel with one that counts against the shop
            cancelled = await self.orders.cancel_posting(posting, *picked)
        except OrderBackendError as exc:
            log.warning("cancelling %s for chat %s through the Seller API failed: %s", posting, chat_id, exc)
            cancelled = False
        await self.store.record_action(chat_id, "cancellation_result", {"posting": posting, "cancelled": cancelled})
        msgid = CANCELLED if cancelled else NOT_CANCELLED
        return [Outgoing("say", self.renderer.text(msgid, lang, {"posting": posting}), {"msg": msgid})]

    async def _reason(self, reason: str) -> tuple[int, str] | None:
        """A buyer-side reason id from Ozon's list (`type_id == "buyer"`, available), with the buyer's
        words; None when Ozon offers none. Never a seller reason such as 402 ("other, seller's
        fault"): that would cancel the buyer's order as the shop's failure (reference, section 5).
        The request then stays with the staff, who see it in their group."""
        reasons = await self.orders.cancel_reasons()
        buyer = next((r for r in reasons if r.type_id == "buyer" and r.available), None)
        if buyer is None:
            return None
        return buyer.id, f"Покупатель попросил отменить заказ ({reason or 'причина не указана'})"
