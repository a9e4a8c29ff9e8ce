"""Ozon push notifications about postings, as changes to the mirror's copy (pure: no HTTP, no store).

Payloads as Ozon documents them (swagger "push_types", FBS and rFBS only: Ozon documents no push
for FBO postings): TYPE_NEW_POSTING, TYPE_POSTING_CANCELLED, TYPE_STATE_CHANGED (its `new_state` is
a substatus of the push model), TYPE_CUTOFF_DATE_CHANGED, TYPE_DELIVERY_DATE_CHANGED.

`push_update(row, payload)` says what to do with one of them:
- `Update(order, state_at)`: the posting as it is after the push (the mirror diffs it as usual);
- `UNKNOWN`: the mirror does not hold the posting: an early sync fetches it (one list call for
  however many pushes, instead of one `fbs/get` each at 2 rps);
- `STALE`: older than what the mirror holds (a status change before the latest one applied, a
  date change whose `old_*` is not the date we hold): the sync corrects whatever remains;
- `IGNORED`: not about a posting, or nothing to change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from bot.orders.mirror.store import PACKING, MirrorRow
from bot.orders.model import Cancellation, Initiator, Order

PING = "TYPE_PING"
NEW_POSTING = "TYPE_NEW_POSTING"
POSTING_CANCELLED = "TYPE_POSTING_CANCELLED"
STATE_CHANGED = "TYPE_STATE_CHANGED"
CUTOFF_DATE_CHANGED = "TYPE_CUTOFF_DATE_CHANGED"
DELIVERY_DATE_CHANGED = "TYPE_DELIVERY_DATE_CHANGED"
POSTING_TYPES = frozenset({NEW_POSTING, POSTING_CANCELLED, STATE_CHANGED, CUTOFF_DATE_CHANGED,
                           DELIVERY_DATE_CHANGED})

# The push model's states and the Seller API status each belongs to (swagger "push_types", the table
# under "Изменение статуса отправления").
STATUS_OF_STATE: dict[str, str] = {
    "posting_acceptance_in_progress": "acceptance_in_progress",
    "posting_created": "awaiting_packaging",
    "posting_awaiting_registration": "awaiting_registration",
    "posting_transferring_to_delivery": "awaiting_deliver",
    "posting_in_carriage": "awaiting_deliver",
    "posting_not_in_carriage": "awaiting_deliver",
    "posting_in_arbitration": "arbitration",
    "posting_in_client_arbitration": "client_arbitration",
    "posting_on_way_to_city": "delivering",
    "posting_transferred_to_courier_service": "delivering",
    "posting_in_courier_service": "delivering",
    "posting_on_way_to_pickup_point": "delivering",
    "posting_in_pickup_point": "delivering",
    "posting_conditionally_delivered": "delivering",
    "posting_driver_pick_up": "driver_pickup",
    "posting_delivered": "delivered",
    "posting_received": "delivered",
    "posting_canceled": "cancelled",
    "posting_not_in_sort_center": "not_accepted",
}


class Outcome(Enum):
    UNKNOWN = "unknown"
    STALE = "stale"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Update:
    order: Order
    state_at: float | None  # the status change's moment (epoch), when the push carries one


def push_key(body: bytes) -> str:
    """Ozon's pushes carry no id; a resent push has the same body. Keyed by its canonical JSON."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()[:40]


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _same(a: datetime | None, b: datetime | None) -> bool:
    return a == b or (a is not None and b is not None and abs((a - b).total_seconds()) < 60)


def posting_of(payload: dict[str, Any]) -> str:
    return str(payload.get("posting_number") or "")


def push_update(row: MirrorRow | None, payload: dict[str, Any]) -> Update | Outcome:
    kind = payload.get("message_type")
    if kind not in POSTING_TYPES or not posting_of(payload):
        return Outcome.IGNORED
    if row is None:
        return Outcome.UNKNOWN
    order = row.order
    if kind == NEW_POSTING:
        return Outcome.IGNORED  # we hold it already
    if kind in (STATE_CHANGED, POSTING_CANCELLED):
        changed = _dt(payload.get("changed_state_date"))
        state_at = changed.timestamp() if changed else None
        if state_at is not None and state_at < row.state_at:
            return Outcome.STALE
        state = str(payload.get("new_state") or "")
        if kind == POSTING_CANCELLED:
            given = payload.get("reason")
            reason: dict[str, Any] = given if isinstance(given, dict) else {}
            reason_id = reason.get("id") if isinstance(reason.get("id"), int) else 0
            old = order.cancellation
            cancellation = Cancellation(reason_id=reason_id or (old.reason_id if old else 0),
                                        reason=str(reason.get("message") or (old.reason if old else "")),
                                        initiator=old.initiator if old else Initiator.UNKNOWN,
                                        cancelled_after_ship=old.cancelled_after_ship if old else False)
            update: dict[str, Any] = {"status": "cancelled", "substatus": state or "posting_canceled",
                                      "cancellation": cancellation}
        else:
            status = STATUS_OF_STATE.get(state, order.status)
            if state == "posting_created" and order.status in ("awaiting_approve", "awaiting_packaging"):
                status = order.status  # both are "created" in the push model
            update = {"status": status, "substatus": state}
        if update["status"] == order.status and update["substatus"] == order.substatus:
            return Outcome.IGNORED
        if changed is not None:
            update["status_changed_at"] = changed
        return Update(order.model_copy(update=update), state_at)
    if kind == CUTOFF_DATE_CHANGED:
        cutoff, was = _dt(payload.get("new_cutoff_date")), _dt(payload.get("old_cutoff_date"))
        if cutoff is None or order.status not in PACKING or _same(order.shipment_date, cutoff):
            return Outcome.IGNORED  # Ozon: such pushes may come after packing; ignore them
        if order.shipment_date is not None and was is not None and not _same(order.shipment_date, was):
            return Outcome.STALE
        return Update(order.model_copy(update={"shipment_date": cutoff}), None)
    begin, end = _dt(payload.get("new_delivery_date_begin")), _dt(payload.get("new_delivery_date_end"))
    old_end = _dt(payload.get("old_delivery_date_end"))
    if end is None or _same(order.delivery_date_end, end):
        return Outcome.IGNORED  # Ozon: the new dates may come empty
    if order.delivery_date_end is not None and old_end is not None and not _same(order.delivery_date_end, old_end):
        return Outcome.STALE
    return Update(order.model_copy(update={"delivery_date_begin": begin or order.delivery_date_begin,
                                           "delivery_date_end": end}), None)
