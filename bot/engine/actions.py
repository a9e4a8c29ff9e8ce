"""The named actions flows may request, with the arguments each one needs.

The engine only checks names and arguments; adapters carry them out (bot/app.py wires a handler).
`set_language` is the one action the engine performs itself.
"""

from __future__ import annotations

ACTIONS: dict[str, frozenset[str]] = {
    "set_language": frozenset({"lang"}),
    "urge_seller": frozenset({"posting"}),
    "request_cancellation": frozenset({"posting", "reason"}),
    "open_return": frozenset({"posting", "reason", "evidence"}),
    "refuse_delivery": frozenset({"posting"}),
    "offer_compensation": frozenset({"posting"}),
    "payment_check": frozenset({"posting"}),
    # The bot's own, never a request to staff: buyers' order news on and off (bot/notify).
    "watch_order": frozenset({"posting"}),
    "unwatch_orders": frozenset(),
}
# Actions the bot carries out itself: no notice to the shop's staff (bot/conversation/service.py).
BOT_ONLY_ACTIONS = frozenset({"watch_order", "unwatch_orders"})
