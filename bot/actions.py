"""Carrying out what flows ask for (`Action` effects): every action is recorded in the store, and a
cancellation request before packing is sent to the Seller API when `OZON_ALLOW_CANCEL` is on.

Agents see the same actions as notices in their group (bot/handoff); this module is what the bot
itself does, whatever the adapter.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.engine.effects import Action
from bot.i18n.render import Texts
from bot.orders.errors import OrderBackendError
from bot.orders.facts import BEFORE_PACKING
from bot.orders.numbers import parse_order_number
from bot.store.base import ConversationStore, Outgoing

log = logging.getLogger(__name__)

CANCELLED, NOT_CANCELLED = "actions.cancelled", "actions.cancel_failed"


class ActionRunner:
    def __init__(self, store: ConversationStore, orders: Any, renderer: Texts, *, allow_cancel: bool = False) -> None:
        self.store = store
        self.orders = orders
        self.renderer = renderer
        self.allow_cancel = allow_cancel

    async def run(self, chat_id: str, action: Action, lang: str) -> list[Outgoing]:
        """Record the action; return any extra messages for the buyer."""
        await self.store.record_action(chat_id, action.name, action.args)
        if action.name == "request_cancellation" and self.allow_cancel and hasattr(self.orders, "cancel_posting"):
            return await self._cancel(chat_id, str(action.args.get("posting") or ""),
                                      str(action.args.get("reason") or ""), lang)
        return []

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
