"""What changed between the mirror's copy of a posting and a newer one: the `PostingChange`s to emit.

Each event's `detail` is what makes it that event (the new status, the new date, the reason), so
the same event seen again, by push and then by sync, or twice by push, has the same key and the
store keeps it once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.orders.changes import ChangeKind, PostingChange
from bot.orders.mirror.store import PACKING
from bot.orders.model import Order

PICKUP = "posting_in_pickup_point"
CANCELLED = frozenset({"cancelled", "cancelled_from_split_pending"})
REFUNDED = frozenset({"MoneyReturned", "MoneyReturnedBySystem", "ReturnMoneyApproved", "PartialCompensationReturned",
                      "ReturnCompensated"})
SAME_MOMENT = timedelta(minutes=1)  # dates closer than this are the same date (rounding between methods)


def iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="minutes") if moment else ""


def _moved(old: datetime | None, new: datetime | None) -> bool:
    """A date that was set and is now another one (a date appearing or going is not a move)."""
    return old is not None and new is not None and abs(new - old) >= SAME_MOMENT


def changes(old: Order | None, new: Order, *, at: datetime, source: str, now: datetime) -> list[PostingChange]:
    """The events between `old` (None: first sight) and `new`, then the deadlines `new` has passed."""
    out: list[PostingChange] = []

    def emit(kind: ChangeKind, detail: str = "") -> None:
        out.append(PostingChange(new.posting_number, kind, detail, at, new, source))

    if old is None:
        emit(ChangeKind.NEW)
    else:
        arrived = new.substatus == PICKUP and old.substatus != PICKUP  # the arrival says it all: no STATUS too
        if new.status in CANCELLED and old.status not in CANCELLED:
            c = new.cancellation
            emit(ChangeKind.CANCELLED, str(c.reason_id or c.reason) if c and (c.reason_id or c.reason) else "")
        elif arrived:
            emit(ChangeKind.AT_PICKUP_POINT)
        elif new.status != old.status:
            emit(ChangeKind.STATUS, new.status)
        elif new.substatus != old.substatus and new.substatus:
            emit(ChangeKind.STATUS, new.substatus)
        if new.status in PACKING and _moved(old.shipment_date, new.shipment_date):
            emit(ChangeKind.CUTOFF_DATE, iso(new.shipment_date))
        if new.status not in CANCELLED and new.status != "delivered" and _moved(old.delivery_date_end,
                                                                                new.delivery_date_end):
            emit(ChangeKind.DELIVERY_DATE, iso(new.delivery_date_end))
        refunded = {r.id for r in old.returns if r.status in REFUNDED}
        for r in new.returns:
            if r.status in REFUNDED and r.id not in refunded:
                emit(ChangeKind.REFUND, str(r.id))
    out += late(new, now, source)
    return out


def late(order: Order, now: datetime, source: str) -> list[PostingChange]:
    """SHIPMENT_LATE / DELIVERY_LATE for the deadline `order` has passed; `detail` is that deadline, so a
    moved deadline that passes again is a new event, and the same one is reported once."""
    if order.status in PACKING and order.shipment_date is not None and order.shipment_date < now:
        return [PostingChange(order.posting_number, ChangeKind.SHIPMENT_LATE, iso(order.shipment_date),
                              order.shipment_date, order, source)]
    if order.status == "delivering" and order.delivery_date_end is not None and order.delivery_date_end < now:
        return [PostingChange(order.posting_number, ChangeKind.DELIVERY_LATE, iso(order.delivery_date_end),
                              order.delivery_date_end, order, source)]
    return []
