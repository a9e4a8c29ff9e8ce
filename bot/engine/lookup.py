"""The order lookup a lookup_order node uses: the order port and the limits that protect orders.

Ownership: the buyer types the last 4 digits of the recipient's phone; `owner_attempts` wrong
answers lock that order for this buyer. A buyer may look up `max_lookups` orders per `window_s`.
The steps themselves are the node's (bot/engine/nodes/lookup_order.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.orders.provider import OrderProvider


@dataclass(frozen=True, slots=True)
class Lookup:
    orders: OrderProvider
    max_lookups: int = 10
    window_s: float = 3600.0
    owner_attempts: int = 3
    number_retries: int = 3
