"""The order as Ozon describes it: one posting (shipment) of a buyer's order.

Field names follow the Seller API (see shared/reference/ozon-seller-api.md). Statuses are kept as
the raw string a provider gave us, so an unknown status never breaks parsing; `Order.status_known`
tells the flows whether they can trust it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    """Every moment in UTC with the standard library's tzinfo. A time without a zone is taken as
    UTC (as Ozon means it), so comparing it with the clock never fails. pydantic's own tzinfo
    makes each comparison ~10x slower, and the order facts compare moments all the time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Scheme(StrEnum):
    FBS = "fbs"
    RFBS = "rfbs"
    FBO = "fbo"


# FBS / rFBS statuses, in the order a posting normally moves through them.
FBS_STATUSES: tuple[str, ...] = (
    "awaiting_verification",
    "awaiting_approve",
    "awaiting_packaging",
    "awaiting_registration",
    "acceptance_in_progress",
    "awaiting_deliver",
    "arbitration",
    "client_arbitration",
    "driver_pickup",
    "not_accepted",
    "delivering",
    "delivered",
    "cancelled",
    "cancelled_from_split_pending",
    "sent_by_seller",
)
FBO_STATUSES: tuple[str, ...] = (
    "awaiting_packaging",
    "awaiting_deliver",
    "delivering",
    "delivered",
    "cancelled",
)
KNOWN_STATUSES: frozenset[str] = frozenset(FBS_STATUSES) | frozenset(FBO_STATUSES)

KNOWN_SUBSTATUSES: frozenset[str] = frozenset(
    {
        "posting_created",
        "posting_split_pending",
        "posting_awaiting_passport_data",
        "posting_awaiting_registration",
        "posting_registration_error",
        "posting_registered",
        "posting_transferring_to_delivery",
        "posting_in_carriage",
        "posting_not_in_carriage",
        "posting_acceptance_in_progress",
        "posting_not_in_sort_center",
        "posting_in_arbitration",
        "posting_in_client_arbitration",
        "posting_driver_pick_up",
        "posting_on_way_to_city",
        "posting_transferred_to_courier_service",
        "posting_in_courier_service",
        "posting_on_way_to_pickup_point",
        "posting_in_pickup_point",
        "posting_conditionally_delivered",
        "posting_delivered",
        "posting_received",
        "posting_returned_to_warehouse",
        "posting_canceled",
        "posting_packing",
        "ship_failed",
        "sent_by_seller",
    }
)


# Cancellation reason ids whose meaning we explain to buyers (catalog messages cancel_reason.<id>).
KNOWN_CANCEL_REASONS: frozenset[int] = frozenset(
    {352, 400, 401, 402, 501, 502, 503, 504, 505, 506, 508, 665, 666, 667, 710}
)


class Initiator(StrEnum):
    """Who cancelled, normalised from Ozon's `cancellation_type`."""

    BUYER = "buyer"
    SELLER = "seller"
    OZON = "ozon"
    SYSTEM = "system"
    DELIVERY = "delivery"
    UNKNOWN = "unknown"

    @classmethod
    def from_ozon(cls, value: str | None) -> Initiator:
        v = (value or "").strip().lower()
        if v in ("client", "customer", "buyer", "клиент", "покупатель"):
            return cls.BUYER
        if v in ("seller", "продавец"):
            return cls.SELLER
        if v == "ozon":
            return cls.OZON
        if v in ("system", "система"):
            return cls.SYSTEM
        if v in ("delivery", "служба доставки"):
            return cls.DELIVERY
        return cls.UNKNOWN


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str = "RUB"


class Product(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    sku: int | None = None
    offer_id: str | None = None
    quantity: int = 1
    price: Money


class Cancellation(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason_id: int | None = None
    reason: str = ""
    initiator: Initiator = Initiator.UNKNOWN
    cancelled_after_ship: bool = False


class ReturnInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    """One return of a posting (Ozon `/v1/returns/list`)."""

    id: int
    type: str = "ClientReturn"  # Cancellation / FullReturn / PartialReturn / ClientReturn / Unknown
    status: str = ""  # visual.status.sys_name, e.g. MovingToSeller, MoneyReturned
    reason: str = ""
    created_at: UtcDatetime | None = None


class Order(BaseModel):
    """One posting, with the order number the buyer sees.

    A value: frozen, never changed after it is built (providers derive new ones with
    `model_copy(update=...)`), so the engine can share and cache orders between conversations.
    """

    model_config = ConfigDict(frozen=True)

    posting_number: str
    order_number: str
    scheme: Scheme = Scheme.FBS
    status: str
    substatus: str = ""
    created_at: UtcDatetime
    in_process_at: UtcDatetime | None = None
    status_changed_at: UtcDatetime | None = None
    shipment_date: UtcDatetime | None = None
    delivering_date: UtcDatetime | None = None
    delivery_date_begin: UtcDatetime | None = None
    delivery_date_end: UtcDatetime | None = None
    tracking_number: str = ""
    delivery_method: str = ""
    # Who carries the parcel (FBS/rFBS `tpl_integration_type`): "ozon" (Ozon logistics), "aggregator",
    # "3pl_tracking", "non_integrated" (the shop's own delivery); "" when not given (FBO: always Ozon).
    tpl_integration_type: str = ""
    # Shipped from abroad (Ozon Global): customs on the way, passport data from the buyer. Ozon's
    # posting has no such flag: providers set it from STORE_CROSS_BORDER or a passport-data substatus.
    cross_border: bool = False
    # When the buyer received the order, where the provider knows it (else the flows fall back to
    # the moment the status became "delivered", when known).
    delivered_at: UtcDatetime | None = None
    city: str = ""
    cancellation: Cancellation | None = None
    products: list[Product] = Field(default_factory=list)
    returns: list[ReturnInfo] = Field(default_factory=list)
    # Last 4 digits of the recipient's phone, where the provider knows them (demo data, some rFBS).
    phone_last4: str | None = None
    # The recipient's whole number where the provider knows it: its last 10 digits (the Russian
    # national number), so "+7 916 ...", "8 916 ..." and a shared Telegram contact all match.
    phone_digits: str | None = None
    related_postings: list[str] = Field(default_factory=list)
    # When a remote provider read this posting (UTC). A provider serving a cached copy during an
    # outage returns it unchanged, so an age beyond the provider's cache TTL means "stale".
    fetched_at: UtcDatetime | None = None

    @property
    def status_known(self) -> bool:
        return self.status in KNOWN_STATUSES

    @property
    def total(self) -> Money:
        currency = self.products[0].price.currency if self.products else "RUB"
        amount = sum((p.price.amount * p.quantity for p in self.products), Decimal(0))
        return Money(amount=amount, currency=currency)
