"""Tolerant mapping of Seller API JSON into `Order`, `ReturnInfo` and small result types.

Missing blocks, nulls, odd types and unknown statuses never raise: statuses are kept raw, bad
dates become None, bad prices 0. Seller-only money (payout, commissions) is never read.
`tariffication` is not read either (the Order has no surcharge field), so its array (2025) and
object (2026) shapes both pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.orders.model import Cancellation, Initiator, Money, Order, Product, ReturnInfo, Scheme

_CENT = Decimal("0.01")
_OZON_LOGISTICS = "ozon"  # tpl_integration_type of plain FBS; the other values are rFBS deliveries


@dataclass(frozen=True)
class KeyRoles:
    """What `/v1/roles` says about the API key."""

    roles: list[str]
    expires_at: datetime | None
    methods: tuple[str, ...] = ()  # every method the roles allow (Ozon chat checks its own are there)


@dataclass(frozen=True)
class CancelReason:
    id: int
    title: str
    type_id: str
    available: bool


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _money(amount: Any, currency: Any) -> Money:
    try:
        value = Decimal(str(amount)).quantize(_CENT)
    except (InvalidOperation, ValueError):
        value = Decimal(0)
    if not value.is_finite():
        value = Decimal(0)
    return Money(amount=value, currency=_str(currency) or "RUB")


def _last4(*phones: Any) -> str | None:
    for phone in phones:
        digits = "".join(ch for ch in _str(phone) if ch.isdigit())
        if len(digits) >= 4:
            return digits[-4:]
    return None


def _digits10(*phones: Any) -> str | None:
    for phone in phones:
        digits = "".join(ch for ch in _str(phone) if ch.isdigit())
        if len(digits) >= 10:
            return digits[-10:]
    return None


def order_number_of(posting: dict[str, Any]) -> str:
    number = _str(posting.get("posting_number"))
    return _str(posting.get("order_number")) or number.rsplit("-", 1)[0]


def _products(posting: dict[str, Any]) -> list[Product]:
    """Products at the price the buyer paid (`financial_data.customer_price`, 2026) when given,
    else the seller's listed price."""
    items = [p for p in _list(posting.get("products")) if isinstance(p, dict)]
    fin = [f for f in _list(_obj(posting.get("financial_data")).get("products")) if isinstance(f, dict)]
    by_sku = {f.get("product_id"): f for f in fin}
    out = []
    for i, p in enumerate(items):
        f = by_sku.get(p.get("sku")) or (fin[i] if len(fin) == len(items) else {})
        if f.get("customer_price") is not None:
            price = _money(f["customer_price"], f.get("customer_currency_code") or p.get("currency_code"))
        else:
            price = _money(p.get("price"), p.get("currency_code"))
        out.append(Product(name=_str(p.get("name")), sku=_int(p.get("sku")), offer_id=_str(p.get("offer_id")) or None,
                           quantity=_int(p.get("quantity")) or 1, price=price))
    return out


def _fbs_cancellation(block: Any) -> Cancellation | None:
    c = _obj(block)
    reason_id, reason = _int(c.get("cancel_reason_id")) or 0, _str(c.get("cancel_reason"))
    if not reason_id and not reason and not c.get("cancellation_type"):
        return None  # an uncancelled posting carries zeros and empty strings
    initiator = Initiator.from_ozon(_str(c.get("cancellation_type")))
    if initiator is Initiator.UNKNOWN:
        initiator = Initiator.from_ozon(_str(c.get("cancellation_initiator")))
    return Cancellation(reason_id=reason_id, reason=reason, initiator=initiator,
                        cancelled_after_ship=bool(c.get("cancelled_after_ship")))


def fbs_order(posting: dict[str, Any]) -> Order:
    """A `/v3/posting/fbs/get` result (FBS or rFBS)."""
    number = _str(posting.get("posting_number"))
    analytics, customer = _obj(posting.get("analytics_data")), _obj(posting.get("customer"))
    tpl = _str(posting.get("tpl_integration_type")).lower()
    related = [_str(n) for n in _list(_obj(posting.get("related_postings")).get("related_posting_numbers"))]
    in_process = _dt(posting.get("in_process_at"))
    return Order(
        posting_number=number,
        order_number=order_number_of(posting),
        scheme=Scheme.RFBS if tpl and tpl != _OZON_LOGISTICS else Scheme.FBS,
        status=_str(posting.get("status")),
        substatus=_str(posting.get("substatus")),
        created_at=_dt(posting.get("created_at")) or in_process or datetime.now(UTC),
        in_process_at=in_process,
        shipment_date=_dt(posting.get("shipment_date")),
        delivering_date=_dt(posting.get("delivering_date")) or _dt(posting.get("fact_delivery_date")),
        delivery_date_begin=_dt(analytics.get("delivery_date_begin")),
        delivery_date_end=_dt(analytics.get("delivery_date_end")),
        tracking_number=_str(posting.get("tracking_number")),
        delivery_method=_str(_obj(posting.get("delivery_method")).get("name")),
        tpl_integration_type=tpl,
        cross_border=_str(posting.get("substatus")) == "posting_awaiting_passport_data",
        city=_str(analytics.get("city")) or _str(_obj(customer.get("address")).get("city")),
        cancellation=_fbs_cancellation(posting.get("cancellation")),
        products=_products(posting),
        phone_last4=_last4(_obj(posting.get("addressee")).get("phone"), customer.get("phone")),
        phone_digits=_digits10(_obj(posting.get("addressee")).get("phone"), customer.get("phone")),
        related_postings=[n for n in related if n and n != number],
    )


def fbo_order(posting: dict[str, Any]) -> Order:
    """A `/v2/posting/fbo/get` result. FBO has no customer block, tracking or seller deadline."""
    analytics = _obj(posting.get("analytics_data"))
    status, reason_id = _str(posting.get("status")), _int(posting.get("cancel_reason_id")) or 0
    in_process = _dt(posting.get("in_process_at"))
    return Order(
        posting_number=_str(posting.get("posting_number")),
        order_number=order_number_of(posting),
        scheme=Scheme.FBO,
        status=status,
        substatus=_str(posting.get("substatus")),
        created_at=_dt(posting.get("created_at")) or in_process or datetime.now(UTC),
        in_process_at=in_process,
        delivering_date=_dt(posting.get("fact_delivery_date")),
        delivery_date_begin=_dt(analytics.get("client_delivery_date_begin")),
        delivery_date_end=_dt(analytics.get("client_delivery_date_end")),
        delivery_method=_str(analytics.get("delivery_type")),
        city=_str(analytics.get("city")),
        cancellation=Cancellation(reason_id=reason_id) if reason_id or status == "cancelled" else None,
        products=_products(posting),
    )


def return_info(item: dict[str, Any]) -> ReturnInfo | None:
    """One `/v1/returns/list` item, or None when it has no id."""
    return_id = _int(item.get("id"))
    if return_id is None:
        return None
    logistic, visual = _obj(item.get("logistic")), _obj(item.get("visual"))
    return ReturnInfo(id=return_id, type=_str(item.get("type")) or "Unknown",
                      status=_str(_obj(visual.get("status")).get("sys_name")),
                      reason=_str(item.get("return_reason_name")),
                      created_at=_dt(logistic.get("return_date")) or _dt(visual.get("change_moment")))


def returns_of(data: dict[str, Any]) -> list[ReturnInfo]:
    found = (return_info(r) for r in _list(data.get("returns")) if isinstance(r, dict))
    return [r for r in found if r is not None]


def listed_postings(data: dict[str, Any]) -> list[str]:
    """Posting numbers in a list reply (`/v4/posting/fbs/list`, `/v3/posting/fbo/list`), with or
    without a `result` wrapper."""
    postings = data.get("postings")
    if postings is None:
        postings = _obj(data.get("result")).get("postings")
    return [n for n in (_str(_obj(p).get("posting_number")) for p in _list(postings)) if n]


def listed_product_names(data: dict[str, Any]) -> list[str]:
    """Names of the products of the postings in a list reply (with or without a `result` wrapper)."""
    postings = data.get("postings")
    if postings is None:
        postings = _obj(data.get("result")).get("postings")
    return [name for p in _list(postings) for name in (_str(_obj(item).get("name"))
                                                       for item in _list(_obj(p).get("products"))) if name]


def key_roles(data: dict[str, Any]) -> KeyRoles:
    names = [_str(_obj(r).get("name")) for r in _list(data.get("roles"))]
    methods = tuple(sorted({_str(m) for r in _list(data.get("roles")) for m in _list(_obj(r).get("methods"))}))
    return KeyRoles(roles=[n for n in names if n], expires_at=_dt(data.get("expires_at")), methods=methods)


def cancel_reasons(data: dict[str, Any]) -> list[CancelReason]:
    out = []
    for r in _list(data.get("result")):
        r = _obj(r)
        if (reason_id := _int(r.get("id"))) is not None:
            out.append(CancelReason(id=reason_id, title=_str(r.get("title")), type_id=_str(r.get("type_id")),
                                    available=bool(r.get("is_available_for_cancellation"))))
    return out
