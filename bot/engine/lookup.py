"""The order lookup a lookup_order node uses: the order port, the ownership ledger and the limits
that protect orders.

Ownership is proven once per order (all its postings), before anything of it is shown:
- where the order carries the recipient's phone: its last 4 digits, the full number, or (in
  Telegram) the buyer's own number shared with the "share my phone number" button;
- where it carries none (FBS delivered by Ozon, FBO): which product was ordered, among the real one
  and decoys from the same shop, and the order date, among decoy dates; both must be right
  (bot/orders/ownership.py builds the question);
- a signed deep link (bot/orders/signed_link.py), within its expiry, by the first buyer who opens it.

Wrong answers are counted in the store (`OwnerLedger`, persisted): `owner_attempts` for one buyer
lock that order for that buyer for good; `order_wrong_answers` (phone) or
`order_wrong_answers_no_phone` (the question) for one order across all buyers close it to
self-service proof for everyone (agents are alerted); `buyer_wrong_per_day` across all
orders stop a buyer trying more orders for a day. A buyer may look up `max_lookups` orders per
`window_s`. The steps themselves are the node's (bot/engine/nodes/lookup_order.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.orders.provider import OrderProvider

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """What the ledger knows about one buyer and one order."""

    buyer_locked: bool = False  # this buyer may no longer try to prove this order (never expires)
    buyer_wrong: int = 0  # this buyer's wrong answers for this order
    order_wrong: int = 0  # wrong answers for this order, all buyers, ever
    order_buyers: int = 0  # distinct buyers who answered wrong for this order
    buyer_wrong_recent: int = 0  # this buyer's wrong answers for any order since `since`


class OwnerLedger(Protocol):
    """Wrong ownership answers and link bindings, kept by the store (every backend passes the
    contract suite in tests/test_store_contract.py)."""

    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        """The record of `buyer` and `order`; `buyer_wrong_recent` counts answers at or after `since`."""
        ...

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        """Record one wrong answer, atomically; the buyer is locked for this order once their wrong
        answers for it reach `lock_after`. Returns the record after this answer."""
        ...

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        """Bind a signed link to the first buyer who opens it; the buyer it is bound to."""
        ...


class NoLedger:
    """A ledger that remembers nothing (engine tests without a store): every record is clean and
    every link is the caller's. Conversation state still holds this conversation's own locks."""

    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        return OwnerRecord()

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        return OwnerRecord(buyer_wrong=1, order_wrong=1, order_buyers=1, buyer_wrong_recent=1)

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        return buyer


NO_LEDGER = NoLedger()


@runtime_checkable
class ProductPool(Protocol):
    """Names of products the shop sells (decoys for the ownership question). An order provider may
    offer it; without one, orders without a phone go to an agent."""

    async def product_names(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Lookup:
    orders: OrderProvider
    max_lookups: int = 10
    window_s: float = 3600.0
    owner_attempts: int = 3  # wrong answers for one order before that buyer is locked out of it
    number_retries: int = 3
    ledger: OwnerLedger = NO_LEDGER
    order_wrong_answers: int = 3  # wrong phone answers for one order, all buyers, before it closes to everyone
    # The same for the product and date question: someone who knows when the order was placed has
    # only the product to guess, 1 in `product_options`, so one wrong answer closes it.
    order_wrong_answers_no_phone: int = 1
    buyer_wrong_per_day: int = 10  # wrong answers of one buyer, all orders, per 24 h
    secret: bytes = b"ozonbot-ownership"  # keys the choice of decoys (the app passes a per-install secret)
    product_options: int = 8  # buttons in the product question (the real one among decoys)
    date_options: int = 6  # buttons in the date question
    buyer_tz: str = "Europe/Moscow"  # BUYER_TIMEZONE: the calendar day the buyer knows the order by
