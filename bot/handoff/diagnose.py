"""Why is this order stuck, why is there no shipping label yet, and what should staff do?

For agents (seed 002: no label because the order is not fully processed, the back office lags,
the carrier has not confirmed, the delivery method is unsuitable, the address is wrong; seed 003:
overdue orders and how to handle them). `diagnose(order, now)` is pure: it returns catalog keys
(`agent_card.diag.*` for causes, `agent_card.todo.*` for steps) that `render_diagnosis` puts in
the agents' language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.orders.facts import BEFORE_PACKING, CANCELLED, OrderFacts
from bot.orders.model import Order, Scheme

SYNC_DELAY_HOURS = 2  # a status younger than this may simply not have reached the back office yet
REGISTRATION_SLOW_HOURS = 24  # carrier registration taking longer than this needs a person
STALE_AFTER = timedelta(minutes=10)  # a provider's cached copy older than this is flagged


@dataclass(frozen=True, slots=True)
class Line:
    msg: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int | None = None


@dataclass
class Diagnosis:
    posting: str
    causes: list[Line] = field(default_factory=list)
    todo: list[Line] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [line.msg for line in self.causes + self.todo]

    def cause(self, msg: str, count: int | None = None, **params: Any) -> None:
        self.causes.append(Line(msg, params, count))

    def step(self, msg: str, count: int | None = None, **params: Any) -> None:
        if all(line.msg != msg for line in self.todo):
            self.todo.append(Line(msg, params, count))


def diagnose(order: Order, now: datetime) -> Diagnosis:
    f = OrderFacts(order, now)
    d = Diagnosis(order.posting_number)
    status, sub = order.status, order.substatus

    if order.fetched_at is not None and now - order.fetched_at > STALE_AFTER:
        d.cause("agent_card.diag.stale", count=int((now - order.fetched_at).total_seconds() // 60))

    if status in CANCELLED:
        d.cause("agent_card.diag.cancelled", reason=f.cancel_reason or "—")
        d.step("agent_card.todo.explain_cancel")
        return d
    if not order.status_known:
        d.cause("agent_card.diag.unknown_status", status=status)
        d.step("agent_card.todo.check_back_office")
        return d
    if f.in_transit or status == "delivered":
        d.cause("agent_card.diag.label_not_issue", tracking=order.tracking_number or "—")
        if f.delivery_late:
            d.cause("agent_card.diag.delivery_late", count=f.days_delivery_late)
            d.step("agent_card.todo.contact_carrier")
            d.step("agent_card.todo.offer_buyer")
        else:
            d.step("agent_card.todo.check_tracking")
        return d

    # Not fully processed: payment or verification pending.
    if status in ("awaiting_verification", "awaiting_approve"):
        d.cause("agent_card.diag.not_processed")
        d.step("agent_card.todo.wait_payment")
    elif status == "awaiting_packaging":
        d.cause("agent_card.diag.not_packed")
        d.step("agent_card.todo.seller_pack")

    # Carrier registration: pending or failed (posting_registration_error).
    if sub == "posting_registration_error":
        d.cause("agent_card.diag.registration_error")
        d.cause("agent_card.diag.method_check", method=order.delivery_method or "—")
        d.step("agent_card.todo.check_method")
        d.step("agent_card.todo.check_address")
        d.step("agent_card.todo.reregister")
        d.step("agent_card.todo.ozon_ticket")
    elif status == "awaiting_registration" or sub == "posting_awaiting_registration":
        if f.hours_in_status >= REGISTRATION_SLOW_HOURS:
            d.cause("agent_card.diag.registration_slow", count=f.hours_in_status)
            d.step("agent_card.todo.contact_carrier")
            d.step("agent_card.todo.ozon_ticket")
        else:
            d.cause("agent_card.diag.registration_pending", count=f.hours_in_status)
            d.step("agent_card.todo.refresh_later")

    if status == "acceptance_in_progress":
        d.cause("agent_card.diag.acceptance")
        d.step("agent_card.todo.refresh_later")
    if status == "awaiting_deliver":
        d.cause("agent_card.diag.label_exists")

    if order.scheme == Scheme.RFBS:
        d.cause("agent_card.diag.rfbs_own_delivery")
        d.step("agent_card.todo.seller_tracking")
    if not order.city.strip():
        d.cause("agent_card.diag.address")
        d.step("agent_card.todo.check_address")

    # Overdue (seed 003): the shipment deadline passed.
    if f.seller_late:
        d.cause("agent_card.diag.seller_late", count=f.hours_seller_late)
        d.step("agent_card.todo.urge_seller")
        d.step("agent_card.todo.offer_buyer")
        d.step("agent_card.todo.appeal")

    if f.hours_in_status < SYNC_DELAY_HOURS and status in BEFORE_PACKING | {"awaiting_registration"}:
        d.cause("agent_card.diag.sync_delay")
        d.step("agent_card.todo.refresh_later")

    if not d.causes:
        d.cause("agent_card.diag.on_track")
    return d
