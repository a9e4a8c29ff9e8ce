"""The lookup_order node's steps: number -> lookup -> pick a posting -> prove ownership -> branch.

Ownership: the buyer types the last 4 digits of the recipient's phone. Three wrong answers lock
that order for this buyer. A buyer may look up only a limited number of orders per hour.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.engine.effects import Ask, Choices, Option, Say
from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes import LookupOrderNode
from bot.i18n.keys import MsgKey
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order
from bot.orders.numbers import OrderRef, parse_order_number

if TYPE_CHECKING:
    from bot.engine.runner import Runner

NUMBER, PICK, OWNER = "number", "pick", "owner"
_NOT_DIGITS = re.compile(r"\D")


class Lookup:
    def __init__(self, orders, *, max_lookups: int = 10, window_s: float = 3600.0, owner_attempts: int = 3,
                 number_retries: int = 3) -> None:
        self.orders = orders
        self.max_lookups = max_lookups
        self.window_s = window_s
        self.owner_attempts = owner_attempts
        self.number_retries = number_retries

    # ---- entering the node --------------------------------------------------------------------
    async def enter(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode) -> None:
        st = r.t.state
        known = st.vars.get("posting_number") or st.vars.get("order_number")
        ref = parse_order_number(known) if isinstance(known, str) else None
        if ref and (current := r.t.order()) and _matches(current, ref) and current.order_number in st.verified:
            await self.refresh(r, flowset, flow, node, ref, current)
            return
        if ref:
            await self.search(r, flowset, flow, node, ref)
            return
        self.prompt(r, NUMBER)

    async def refresh(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, ref: OrderRef,
                      current: Order) -> None:
        """An order proven earlier in this conversation: read it again (statuses move on) without
        asking for the phone or counting a lookup; if the backend is down, the last copy serves."""
        try:
            fresh = await self.orders.find(ref)
        except OrderBackendUnavailable:
            fresh = []
        order = next((o for o in fresh if o.posting_number == current.posting_number), current)
        await self.found(r, flowset, flow, node, order)

    def prompt(self, r: "Runner", phase: str) -> None:
        st = r.t.state
        assert st.at is not None
        st.at.phase = phase
        if phase == NUMBER:
            r.t.emit(Say("lookup.ask_number"))
            r.t.emit(Ask("order_number"))
        elif phase == OWNER:
            r.t.emit(Say("lookup.ask_phone", {"order_number": st.vars.get("order_number", "")}))
            r.t.emit(Ask("phone_last4"))
        elif phase == PICK:
            postings = st.vars.get("_postings", [])
            r.t.emit(Say("lookup.pick_posting", {"count": len(postings)}, count=len(postings)))
            r.t.emit(Choices(tuple(
                Option(str(i + 1), "lookup.posting_option", {"posting": p["posting_number"], "status": MsgKey(p["status_label"])})
                for i, p in enumerate(postings)
            )))
            r.t.emit(Ask("choice"))

    # ---- input while waiting in the node ------------------------------------------------------
    async def receive_text(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, text: str) -> bool:
        """Handle typed input; False when it is not for this node (the engine then interprets it)."""
        st = r.t.state
        phase = st.at.phase if st.at else NUMBER
        if phase == OWNER:
            return await self.receive_phone(r, flowset, flow, node, text)
        if phase == PICK:
            return await self.receive_pick(r, flowset, flow, node, text.strip())
        ref = parse_order_number(text)
        if ref is None:
            from bot.orders.numbers import find_order_number

            ref = find_order_number(text)
        if ref is None:
            st.at.retries += 1
            if st.at.retries > self.number_retries:
                await r.follow(flowset, flow, node.not_found)
                return True
            r.t.emit(Say("lookup.bad_number", {"example": "57195475-0050"}))
            r.t.emit(Ask("order_number"))
            return True
        await self.search(r, flowset, flow, node, ref)
        return True

    async def receive_pick(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, option_id: str) -> bool:
        postings = r.t.state.vars.get("_postings", [])
        if not option_id.isdigit() or not 1 <= int(option_id) <= len(postings):
            return False
        chosen = postings[int(option_id) - 1]["posting_number"]
        r.t.state.vars.pop("_postings", None)
        await self.search(r, flowset, flow, node, parse_order_number(chosen))  # type: ignore[arg-type]
        return True

    async def receive_phone(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, text: str) -> bool:
        st = r.t.state
        digits = _NOT_DIGITS.sub("", text)
        if len(digits) != 4:
            r.t.emit(Say("lookup.phone_format"))
            r.t.emit(Ask("phone_last4"))
            return True
        ref = parse_order_number(str(st.vars.get("_pending", "")))
        try:
            candidates = await self.orders.find(ref) if ref else []
        except OrderBackendUnavailable:
            await r.follow(flowset, flow, node.unavailable)
            return True
        if not candidates:
            st.vars.pop("_pending", None)
            await r.follow(flowset, flow, node.not_found)
            return True
        order = candidates[0]
        if digits == order.phone_last4:
            st.vars.pop("_pending", None)
            st.owner_failures.pop(order.order_number, None)
            st.verified = (st.verified + [order.order_number])[-20:]
            await self.found(r, flowset, flow, node, order)
            return True
        fails = st.owner_failures.get(order.order_number, 0) + 1
        st.owner_failures[order.order_number] = fails
        left = self.owner_attempts - fails
        if left <= 0:
            st.vars.pop("_pending", None)
            st.locked = (st.locked + [order.order_number])[-50:]
            r.t.record("owner_locked", order=order.order_number)
            await r.follow(flowset, flow, node.locked)
            return True
        r.t.emit(Say("lookup.phone_wrong", {"left": left}, count=left))
        r.t.emit(Ask("phone_last4"))
        return True

    # ---- the lookup itself --------------------------------------------------------------------
    async def search(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, ref: OrderRef) -> None:
        st = r.t.state
        st.remember_number(ref.order_number, ref.posting_number)
        if ref.order_number in st.locked:
            await r.follow(flowset, flow, node.locked)
            return
        now = r.t.now.timestamp()
        recent = [ts for ts in st.lookups if now - ts < self.window_s]
        if len(recent) >= self.max_lookups:
            minutes = max(1, int((self.window_s - (now - recent[0])) // 60) + 1)
            r.t.emit(Say("lookup.rate_limited", {"minutes": minutes}, count=minutes))
            r.t.record("lookup_rate_limited")
            st.lookups = recent
            st.at = None
            return
        st.lookups = recent + [now]
        try:
            found = await self.orders.find(ref)
        except OrderBackendUnavailable:
            r.t.record("backend_unavailable", order=ref.text)
            await r.follow(flowset, flow, node.unavailable)
            return
        if not found:
            r.t.set_order(None)
            await r.follow(flowset, flow, node.not_found)
            return
        if len(found) > 1:
            st.vars["_postings"] = [
                {"posting_number": o.posting_number,
                 "status_label": f"status.{o.status}" if o.status_known else "status.unknown"}
                for o in found
            ]
            self.prompt(r, PICK)
            return
        order = found[0]
        if order.order_number in st.verified:
            await self.found(r, flowset, flow, node, order)
            return
        if not order.phone_last4:
            # The provider cannot prove ownership (FBO, most FBS): an agent confirms it instead.
            r.t.set_order(order)
            r.t.emit(Say("lookup.cannot_verify"))
            await r.follow(flowset, flow, "flow:talk_to_agent")
            return
        st.vars["_pending"] = order.posting_number  # re-read at the answer: no order details in state yet
        self.prompt(r, OWNER)

    async def found(self, r: "Runner", flowset: FlowSet, flow: Flow, node: LookupOrderNode, order: Order) -> None:
        st = r.t.state
        r.t.set_order(order)
        st.remember_number(order.order_number, order.posting_number)
        r.t.record("order_found", order=order.posting_number, status=order.status)
        await r.follow(flowset, flow, node.found)


def _matches(order: Order, ref: OrderRef) -> bool:
    if ref.posting_number:
        return order.posting_number == ref.posting_number
    return order.order_number == ref.order_number
