"""What only the buyer knows from an order without a phone: the ownership question.

FBS postings delivered by Ozon and every FBO posting carry no phone in the Seller API, so the bot
asks which product was ordered (the real one among decoys the same shop sells) and when (the order
date among decoy dates). Both must be right; the answer to a wrong pair never says which half was
wrong.

Guessing without leaking:
- The options are fixed per order (keyed by a secret, so nobody can recompute which ones are
  decoys from the open-source code): asking again, from the same account or another one, shows the
  same set, and intersecting several accounts' sets reveals nothing. Only their order on screen
  varies per buyer.
- The real product's place is uniform; the real date's place among the dates is uniform too, except
  that no date is in the future: for an order placed in the last days the real date is more often
  among the latest. The date only helps against someone who does not know when the order was
  placed; someone who does has 1 chance in `products` (bench/ownership.py measures both), which is
  why one wrong answer closes such an order (ORDER_WRONG_ANSWERS_NO_PHONE).
- Why the date and not the amount: the total is the product's price times the quantity, and a
  shop's prices are public, so an amount among decoys tells which product is real.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.orders.model import Order

BUYER_TZ = ZoneInfo("Europe/Moscow")  # default: Ozon's clock, the order date as the app shows it in Russia
DATE_STEP = 2  # days between two date options: a buyer unsure of the day still tells them apart


@dataclass(frozen=True, slots=True)
class Question:
    products: tuple[str, ...]  # in the order this buyer sees them
    product_answer: int  # index into products
    dates: tuple[date, ...]  # oldest first
    date_answer: int  # index into dates


def _rand(key: bytes, *parts: str) -> int:
    msg = "\x1f".join(parts).encode()
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:8], "big")


def _shuffled(items: list[str], key: bytes, *parts: str) -> list[str]:
    return sorted(items, key=lambda item: _rand(key, *parts, item))


def real_product(postings: list[Order]) -> str:
    """The one product of the order the question shows (an order of several shows one of them;
    the others are never decoys). Chosen from the order alone: it tells nothing to anyone who does
    not know the order."""
    names = sorted({item.name for p in postings for item in p.products})
    digest = hashlib.sha256(postings[0].order_number.encode()).digest()
    return names[int.from_bytes(digest[:4], "big") % len(names)]


def order_day(order: Order, tz: tzinfo = BUYER_TZ) -> date:
    return order.created_at.astimezone(tz).date()


def question(postings: list[Order], pool: list[str], key: bytes, buyer: str, today: datetime, *,
             products: int = 8, dates: int = 6, tz: tzinfo = BUYER_TZ) -> Question | None:
    """The question for an order (all its postings), or None when the shop's catalogue is too
    small for decoys (fewer than 3): then only an agent can confirm."""
    if not postings or not any(p.products for p in postings):
        return None
    order_number = postings[0].order_number
    real_names = sorted({item.name for p in postings for item in p.products})
    real = real_product(postings)
    decoys = sorted({name for name in pool if name not in real_names})
    chosen = _shuffled(decoys, key, "decoy", order_number)[: max(0, products - 1)]
    if len(chosen) < 3:
        return None
    shown = _shuffled([real, *chosen], key, "show", order_number, buyer)
    day = min(order_day(p, tz) for p in postings)
    last = today.astimezone(tz).date()
    place = _rand(key, "date", order_number) % dates  # where the real date sits, before clamping
    first = day - timedelta(days=place * DATE_STEP)
    latest = first + timedelta(days=(dates - 1) * DATE_STEP)
    if latest > last:  # no date in the future
        first -= timedelta(days=((latest - last).days + DATE_STEP - 1) // DATE_STEP * DATE_STEP)
    days = tuple(first + timedelta(days=i * DATE_STEP) for i in range(dates))
    return Question(tuple(shown), shown.index(real), days, days.index(day))
