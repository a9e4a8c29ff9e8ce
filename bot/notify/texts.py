"""What a buyer is told about one change of a watched posting, in their language and our voice.

`buyer_message(change, now)` is pure: the catalog key, its parameters and plural count, and the
buttons (each one a command with the posting, so it opens an existing flow on that order), or None
when the change is not worth a message. Only what the order data says is said: a cancellation
with Ozon's reason, a refund Ozon reports, a late shipment or delivery by the dates Ozon gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.i18n.keys import Day, Duration
from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.facts import OrderFacts
from bot.orders.model import Order

COMMAND_BUTTON = "k|"  # callback data "k|<command>|<argument>": the buyer's command, as if typed

# The statuses a buyer hears about, and what they are told (other moves are inside the shop or Ozon).
STATUS_MESSAGES = {
    "awaiting_deliver": "notify.packed",
    "driver_pickup": "notify.shipped",
    "sent_by_seller": "notify.shipped",
    "delivering": "notify.shipped",
    "delivered": "notify.delivered",
}


@dataclass(frozen=True, slots=True)
class BuyerMessage:
    msg: str
    params: dict[str, Any]
    count: int | None = None
    # (label msgid, command, argument) rows of one button each
    buttons: list[tuple[str, str, str]] = field(default_factory=list)


def _parse(detail: str) -> datetime | None:
    try:
        return datetime.fromisoformat(detail) if detail else None
    except ValueError:
        return None


def _days_left(deadline: datetime, now: datetime) -> int:
    return max(0, int((deadline - now).total_seconds() // 86400))


def change_status(change: PostingChange) -> str:
    """The status a STATUS change is about (its detail: "delivering", or "delivering/substatus")."""
    return change.detail.replace(":", "/").partition("/")[0] or change.order.status


def command_data(command: str, arg: str) -> str:
    return f"{COMMAND_BUTTON}{command}|{arg}"


def buyer_message(change: PostingChange, now: datetime) -> BuyerMessage | None:
    o: Order = change.order
    p = o.posting_number
    f = OrderFacts(o, now)
    details = ("notify.btn_details", "order", p)
    stop = ("notify.btn_stop", "stop", "")
    kind = change.kind
    if kind is ChangeKind.STATUS:
        msg = STATUS_MESSAGES.get(change_status(change))
        if msg is None:
            return None
        if msg == "notify.shipped" and o.delivery_date_end is not None:
            return BuyerMessage("notify.shipped_window", {"posting": p, "end": Day.of(o.delivery_date_end),
                                                          "track": o.tracking_number or "—"}, None, [details, stop])
        return BuyerMessage(msg, {"posting": p, "track": o.tracking_number or "—"}, None, [details, stop])
    if kind is ChangeKind.AT_PICKUP_POINT:
        deadline = _parse(change.detail)
        if deadline is None:
            return BuyerMessage("notify.pickup", {"posting": p}, None, [details, stop])
        left = _days_left(deadline, now)
        return BuyerMessage("notify.pickup_until", {"posting": p, "date": Day.of(deadline), "count": left}, left,
                            [details, stop])
    if kind is ChangeKind.DELIVERY_DATE:
        moment = _parse(change.detail) or o.delivery_date_end
        if moment is None or f.is_cancelled or f.is_delivered:
            return None
        return BuyerMessage("notify.delivery_date", {"posting": p, "date": Day.of(moment)}, None, [details, stop])
    if kind is ChangeKind.SHIPMENT_LATE:
        if not f.seller_late:
            return None  # already on its way (a late report arriving after the news): nothing to apologise for
        return BuyerMessage("notify.shipment_late", {"posting": p, "date": Day.of(o.shipment_date),
                                                     "late": Duration(f.hours_seller_late)}, None,
                            [("notify.btn_options", "late", p), ("common.talk_to_agent", "agent", ""), stop])
    if kind is ChangeKind.DELIVERY_LATE:
        if not f.delivery_late:
            return None
        days = f.days_delivery_late
        return BuyerMessage("notify.delivery_late", {"posting": p, "date": Day.of(o.delivery_date_end),
                                                     "count": days}, days,
                            [("notify.btn_options", "late", p), ("common.talk_to_agent", "agent", ""), stop])
    if kind is ChangeKind.CANCELLED:
        if not f.is_cancelled:
            return None
        return BuyerMessage("notify.cancelled", {"posting": p, "reason": f.cancel_reason_label}, None,
                            [("notify.btn_why", "why", p), stop])
    if kind is ChangeKind.REFUND:
        return BuyerMessage("notify.refund", {"posting": p}, None, [details, stop])
    return None  # NEW, CUTOFF_DATE: the shop's business, not news for the buyer
