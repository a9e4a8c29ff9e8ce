"""Derived facts about an order that flows branch on (`order.seller_late`, `order.days_in_status`, ...).

`OrderFacts` is the `order` that conditions see. Every public attribute below is a name flow
authors can use; the condition compiler reads their types (property return annotations, field
annotations) to type-check conditions at load time, so keep each one annotated with a plain type.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from operator import attrgetter

from bot.i18n.keys import Day, Duration, MsgKey
from bot.orders.model import KNOWN_CANCEL_REASONS, KNOWN_SUBSTATUSES, Initiator, Money, Order, Scheme

BEFORE_PACKING = frozenset({"awaiting_verification", "awaiting_approve", "awaiting_packaging"})
BEING_PREPARED = frozenset({"awaiting_registration", "acceptance_in_progress", "awaiting_deliver"})
IN_TRANSIT = frozenset(
    {"driver_pickup", "delivering", "sent_by_seller", "arbitration", "client_arbitration", "not_accepted"}
)
CANCELLED = frozenset({"cancelled", "cancelled_from_split_pending"})
# Russian consumer law (ЗоЗПП, art. 26.1): goods of proper quality bought remotely can be returned
# within 7 days after they were received. Defects have longer terms (the warranty), so the flows use
# this only for "changed my mind" and never claim a return is impossible: the app decides.
RETURN_DAYS = 7

# Why an order was cancelled, in the words flows branch on (`order.cancel_category`).
CANCEL_CATEGORIES = ("", "buyer", "stock", "price", "payment", "rules", "delivery", "not_picked_up", "split", "other")
_STOCK_REASONS = frozenset({352, 400})
_DELIVERY_REASONS = frozenset({666, 667})
_BUYER_REASONS = frozenset({501, 502, 503, 504, 505, 506, 508, 710})
# Ozon gives most platform and seller reasons only as Russian text: the stems we recognise.
_PAYMENT_WORDS = ("оплат", "платеж", "платёж", "payment")
_PRICE_WORDS = ("цен", "price")


def cancel_category(order: Order) -> str:
    """'' when not cancelled; otherwise the category of CANCEL_CATEGORIES that explains it."""
    if order.status not in CANCELLED:
        return ""
    if order.status == "cancelled_from_split_pending":
        return "split"
    c = order.cancellation
    if c is None:
        return "other"
    text = c.reason.casefold()
    if c.reason_id in _STOCK_REASONS:
        return "stock"
    if c.reason_id == 665:
        return "not_picked_up"
    if c.reason_id in _DELIVERY_REASONS or c.initiator == Initiator.DELIVERY:
        return "delivery"
    if c.reason_id in _BUYER_REASONS or c.initiator == Initiator.BUYER:
        return "buyer"
    if any(w in text for w in _PAYMENT_WORDS):
        return "payment"
    if c.initiator == Initiator.SELLER:
        return "price" if any(w in text for w in _PRICE_WORDS) else "other"
    if c.initiator in (Initiator.OZON, Initiator.SYSTEM):
        return "rules"
    return "other"


class OrderFacts:
    """A read-only view of an `Order` at a moment `now` (UTC)."""

    __slots__ = ("_now", "_o")

    # The `order` namespace of the condition language is every public property below (typed by its
    # return annotation) except `order` itself, plus these fields of `Order`, read as they are.
    posting_number: str
    order_number: str
    status: str
    substatus: str
    tracking_number: str
    delivery_method: str
    tpl_integration_type: str
    cross_border: bool
    shipment_date: datetime
    created_at: datetime

    def __init__(self, order: Order, now: datetime) -> None:
        self._o = order
        self._now = now

    @property
    def order(self) -> Order:
        return self._o

    @property
    def scheme(self) -> str:
        return self._o.scheme.value

    @property
    def status_known(self) -> bool:
        return self._o.status_known

    @property
    def status_label(self) -> MsgKey:
        return MsgKey(f"status.{self._o.status}" if self._o.status_known else "status.unknown")

    @property
    def substatus_label(self) -> MsgKey:
        sub = self._o.substatus
        return MsgKey(f"substatus.{sub}" if sub in KNOWN_SUBSTATUSES else "substatus.unknown")

    @property
    def cancelled_by_label(self) -> MsgKey:
        return MsgKey(f"initiator.{self.cancelled_by}")

    @property
    def cancel_reason_label(self) -> MsgKey:
        rid = self.cancel_reason_id
        return MsgKey(f"cancel_reason.{rid}" if rid in KNOWN_CANCEL_REASONS else "cancel_reason.other")

    @property
    def delivery_date_begin(self) -> datetime | None:
        """A day, not a moment: Ozon gives windows as times, but a buyer is promised dates."""
        return Day.of(self._o.delivery_date_begin)

    @property
    def delivery_date_end(self) -> datetime | None:
        return Day.of(self._o.delivery_date_end)

    @property
    def first_product(self) -> str:
        return self._o.products[0].name if self._o.products else ""

    def _hours_since(self, moment: datetime | None) -> int:
        if moment is None:
            return 0
        return max(0, int((self._now - moment).total_seconds() // 3600))

    @property
    def hours_in_status(self) -> int:
        o = self._o
        return self._hours_since(o.status_changed_at or o.in_process_at or o.created_at)

    @property
    def days_in_status(self) -> int:
        return self.hours_in_status // 24

    @property
    def days_since_created(self) -> int:
        return self._hours_since(self._o.created_at) // 24

    @property
    def seller_late(self) -> bool:
        o = self._o
        return (
            o.status in ("awaiting_packaging", "awaiting_deliver")
            and o.shipment_date is not None
            and self._now > o.shipment_date
        )

    @property
    def hours_seller_late(self) -> int:
        return self._hours_since(self._o.shipment_date) if self.seller_late else 0

    @property
    def seller_late_for(self) -> Duration:
        return Duration(self.hours_seller_late)

    @property
    def delivery_late(self) -> bool:
        o = self._o
        return o.status == "delivering" and o.delivery_date_end is not None and self._now > o.delivery_date_end

    @property
    def days_delivery_late(self) -> int:
        if not self.delivery_late:
            return 0
        return max(1, self._hours_since(self._o.delivery_date_end) // 24)

    @property
    def at_pickup_point(self) -> bool:
        return self._o.substatus == "posting_in_pickup_point"

    @property
    def can_cancel_directly(self) -> bool:
        return self._o.status in BEFORE_PACKING

    @property
    def before_packing(self) -> bool:
        return self._o.status in BEFORE_PACKING

    @property
    def being_prepared(self) -> bool:
        return self._o.status in BEING_PREPARED

    @property
    def in_transit(self) -> bool:
        return self._o.status in IN_TRANSIT

    @property
    def is_delivered(self) -> bool:
        return self._o.status == "delivered"

    @property
    def is_cancelled(self) -> bool:
        return self._o.status in CANCELLED

    @property
    def cancelled_by(self) -> str:
        c = self._o.cancellation
        return c.initiator.value if c else Initiator.UNKNOWN.value

    @property
    def cancel_reason_id(self) -> int:
        c = self._o.cancellation
        return (c.reason_id or 0) if c else 0

    @property
    def cancel_reason(self) -> str:
        c = self._o.cancellation
        return c.reason if c else ""

    @property
    def cancelled_after_ship(self) -> bool:
        c = self._o.cancellation
        return bool(c and c.cancelled_after_ship)

    @property
    def cancel_category(self) -> str:
        return cancel_category(self._o)

    @property
    def paid(self) -> bool:
        """Payment confirmed: Ozon starts processing (`in_process_at`) once the money is in."""
        return self._o.in_process_at is not None

    @property
    def days_seller_late(self) -> int:
        return self.hours_seller_late // 24

    @property
    def payment_pending(self) -> bool:
        o = self._o
        return o.status in ("awaiting_verification", "awaiting_approve") and o.in_process_at is None

    # ---- the delivery scheme and who can act -------------------------------------------------------
    @property
    def ozon_delivers(self) -> bool:
        """Ozon's logistics carries the parcel: FBO always, FBS (tpl "ozon", or not given). Complaints
        about such a delivery (late, "delivered" but not received) go to Ozon, in the app."""
        o = self._o
        if o.scheme is Scheme.FBO or o.tpl_integration_type == "ozon":
            return True
        return o.scheme is Scheme.FBS and not o.tpl_integration_type

    @property
    def shop_delivers(self) -> bool:
        """rFBS: the shop arranges the delivery (its own, or a carrier it chose), so it answers for it."""
        return self._o.scheme is Scheme.RFBS and not self.ozon_delivers

    @property
    def awaiting_passport(self) -> bool:
        """Cross-border: the order waits for the buyer's passport data for customs (not for us)."""
        return self._o.substatus == "posting_awaiting_passport_data"

    @property
    def buyer_can_cancel(self) -> bool:
        """The buyer can cancel it in the Ozon app themselves (FBS/rFBS before packing; reference,
        section 4). That costs the shop nothing, so flows offer it first."""
        return self._o.scheme is not Scheme.FBO and self._o.status in BEFORE_PACKING

    @property
    def shop_can_cancel(self) -> bool:
        """We can still cancel it through Ozon (FBS/rFBS, not handed to delivery yet). FBO postings
        are Ozon's: the shop cannot cancel them (reference, section 5)."""
        o = self._o
        return o.scheme is not Scheme.FBO and o.status in (BEFORE_PACKING | BEING_PREPARED)

    @property
    def delivered_at(self) -> datetime | None:
        """The day the buyer received it: the provider's date, else when the status became delivered."""
        o = self._o
        if o.status != "delivered":
            return None
        return Day.of(o.delivered_at or o.status_changed_at)

    @property
    def days_since_delivered(self) -> int:
        o = self._o
        moment = o.delivered_at or o.status_changed_at
        return self._hours_since(moment) // 24 if o.status == "delivered" and moment else 0

    @property
    def return_deadline(self) -> datetime | None:
        o = self._o
        moment = o.delivered_at or o.status_changed_at
        if o.status != "delivered" or moment is None:
            return None
        return Day.of(moment + timedelta(days=RETURN_DAYS))

    @property
    def within_return_days(self) -> bool:
        """Received less than RETURN_DAYS ago (or we do not know when: then we do not say it is late)."""
        o = self._o
        moment = o.delivered_at or o.status_changed_at
        return o.status == "delivered" and (moment is None or self._now - moment < timedelta(days=RETURN_DAYS))

    @property
    def has_return(self) -> bool:
        return bool(self._o.returns)

    @property
    def return_status(self) -> str:
        return self._o.returns[-1].status if self._o.returns else ""

    @property
    def product_count(self) -> int:
        return sum(p.quantity for p in self._o.products)

    @property
    def postings_in_order(self) -> int:
        return 1 + len(self._o.related_postings)

    @property
    def total(self) -> Money:
        return self._o.total


def _plain_fields() -> None:
    """The annotated names are the Order's own fields: read them through `operator.attrgetter`
    (C code; a `__getattr__` fallback cost ~1 µs a read, and a switch reads many)."""
    for name in OrderFacts.__annotations__:
        if name in vars(OrderFacts) or name not in Order.model_fields:
            raise TypeError(f"OrderFacts.{name} is annotated but is not a plain field of Order")
        setattr(OrderFacts, name, property(attrgetter(f"_o.{name}")))


_plain_fields()


def fact_types() -> dict[str, type]:
    """Name -> type of everything `order.<name>` may use in a condition or message parameter."""
    import typing

    types = {k: v for k, v in typing.get_type_hints(OrderFacts).items() if not k.startswith("_")}
    for name, value in vars(OrderFacts).items():
        if isinstance(value, property) and not name.startswith("_") and name != "order" and name not in types:
            returned = typing.get_type_hints(value.fget)["return"]
            # `X | None` is X that may be null (compared with `null` in conditions, as the fields are)
            present = [t for t in typing.get_args(returned) if t is not type(None)]
            types[name] = present[0] if len(present) == 1 and type(None) in typing.get_args(returned) else returned
    return types
