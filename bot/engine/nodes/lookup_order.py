"""lookup_order: number -> lookup -> pick a posting -> prove ownership -> branch."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from bot.engine.effects import Ask, Choices, Option, Say
from bot.engine.nodes.base import NodeBase, Step
from bot.i18n.keys import MsgKey
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order
from bot.orders.numbers import OrderRef, find_order_number, parse_order_number

# Sub-steps, kept in the state's position (`phase`) while the node waits.
NUMBER, PICK, OWNER = "number", "pick", "owner"
_NOT_DIGITS = re.compile(r"\D")


class LookupOrderNode(NodeBase):
    """Find the buyer's order and prove it is theirs, then branch.

    Steps, each waiting for the buyer when needed: ask for the number (unless one is known),
    look it up, let the buyer pick a posting when the order has several, confirm the last 4
    digits of the recipient's phone. Branches: `found`, `not_found`, `unavailable` (backend
    down), `locked` (too many failed ownership checks).
    """

    kind: Literal["lookup_order"]
    found: str
    not_found: str
    unavailable: str = "flow:backend_unavailable"
    locked: str = "flow:owner_locked"

    shape: ClassVar[str] = "subroutine"

    def targets(self) -> list[tuple[str, str]]:
        return [
            ("found", self.found),
            ("not_found", self.not_found),
            ("unavailable", self.unavailable),
            ("locked", self.locked),
        ]

    @property
    def waits(self) -> bool:
        return True  # it may wait for the number or the phone digits

    def summary(self) -> str:
        return "find the order: asks for its number and the last 4 phone digits"

    def edges(self, text) -> list[tuple[str, str]]:
        return [("found", self.found), ("not found", self.not_found), ("service down", self.unavailable),
                ("locked", self.locked)]

    # ---- entering the node ------------------------------------------------------------------------
    async def enter(self, ctx: Step, node_id: str) -> None:
        st = ctx.t.state
        known = st.vars.get("posting_number") or st.vars.get("order_number")
        ref = parse_order_number(known) if isinstance(known, str) else None
        if ref and (current := ctx.t.order()) and _matches(current, ref) and current.order_number in st.verified:
            await self._refresh(ctx, ref, current)
        elif ref:
            await self._search(ctx, ref)
        else:
            self._ask(ctx, NUMBER)
        return None

    async def _refresh(self, ctx: Step, ref: OrderRef, current: Order) -> None:
        """An order proven earlier in this conversation: read it again (statuses move on) without
        asking for the phone or counting a lookup; if the backend is down, the last copy serves."""
        try:
            fresh = await ctx.lookup.orders.find(ref)
        except OrderBackendUnavailable:
            fresh = []
        order = next((o for o in fresh if o.posting_number == current.posting_number), current)
        await self._found(ctx, order)

    def prompt(self, ctx: Step) -> None:
        at = ctx.t.state.at
        self._ask(ctx, (at.phase if at else "") or NUMBER)

    def _ask(self, ctx: Step, phase: str) -> None:
        t = ctx.t
        st = t.state
        assert st.at is not None
        st.at.phase = phase
        if phase == NUMBER:
            t.emit(Say("lookup.ask_number"))
            t.emit(Ask("order_number"))
        elif phase == OWNER:
            t.emit(Say("lookup.ask_phone", {"order_number": st.vars.get("order_number", "")}))
            t.emit(Ask("phone_last4"))
        elif phase == PICK:
            postings = st.vars.get("_postings", [])
            t.emit(Say("lookup.pick_posting", {"count": len(postings)}, count=len(postings)))
            t.emit(Choices(tuple(
                Option(str(i + 1), "lookup.posting_option",
                       {"posting": p["posting_number"], "status": MsgKey(p["status_label"])})
                for i, p in enumerate(postings)
            )))
            t.emit(Ask("choice"))

    # ---- input while waiting in the node ----------------------------------------------------------
    async def answer_press(self, ctx: Step, option_id: str) -> bool:
        at = ctx.t.state.at
        return bool(at and at.phase == PICK) and await self._pick(ctx, option_id)

    async def answer_text(self, ctx: Step, text: str) -> bool:
        st = ctx.t.state
        phase = st.at.phase if st.at else NUMBER
        if phase == PICK:
            postings = st.vars.get("_postings", [])
            idx = None if text.strip().isdigit() else ctx.labels.pick(text, [[p["posting_number"]] for p in postings])
            return await self._pick(ctx, str(idx + 1) if idx is not None else text)
        if phase == OWNER:
            return await self._phone(ctx, text)
        ref = parse_order_number(text) or find_order_number(text)
        if ref is None and (target := ctx.way_out(text)) is not None:
            await ctx.follow(target)
            return True
        if ref is None:
            assert st.at is not None
            st.at.retries += 1
            if st.at.retries > ctx.lookup.number_retries:
                await ctx.follow(self.not_found)
                return True
            ctx.t.emit(Say("lookup.bad_number", {"example": "57195475-0050"}))
            ctx.t.emit(Ask("order_number"))
            return True
        await self._search(ctx, ref)
        return True

    async def _pick(self, ctx: Step, option_id: str) -> bool:
        postings = ctx.t.state.vars.get("_postings", [])
        if not option_id.isdigit() or not 1 <= int(option_id) <= len(postings):
            return False
        chosen = postings[int(option_id) - 1]["posting_number"]
        ctx.t.state.vars.pop("_postings", None)
        await self._search(ctx, parse_order_number(chosen))  # type: ignore[arg-type]
        return True

    async def _phone(self, ctx: Step, text: str) -> bool:
        t = ctx.t
        st = t.state
        digits = _NOT_DIGITS.sub("", text)
        if len(digits) != 4 and (target := ctx.way_out(text, number=False)) is not None:
            st.vars.pop("_pending", None)
            await ctx.follow(target)
            return True
        if len(digits) != 4:
            t.emit(Say("lookup.phone_format"))
            t.emit(Ask("phone_last4"))
            return True
        ref = parse_order_number(str(st.vars.get("_pending", "")))
        try:
            candidates = await ctx.lookup.orders.find(ref) if ref else []
        except OrderBackendUnavailable:
            await ctx.follow(self.unavailable)
            return True
        if not candidates:
            st.vars.pop("_pending", None)
            await ctx.follow(self.not_found)
            return True
        order = candidates[0]
        if digits == order.phone_last4:
            st.vars.pop("_pending", None)
            st.owner_failures.pop(order.order_number, None)
            st.verified = [*st.verified, order.order_number][-20:]
            await self._found(ctx, order)
            return True
        fails = st.owner_failures.get(order.order_number, 0) + 1
        st.owner_failures[order.order_number] = fails
        left = ctx.lookup.owner_attempts - fails
        if left <= 0:
            st.vars.pop("_pending", None)
            st.locked = [*st.locked, order.order_number][-50:]
            t.record("owner_locked", order=order.order_number)
            await ctx.follow(self.locked)
            return True
        t.emit(Say("lookup.phone_wrong", {"left": left}, count=left))
        t.emit(Ask("phone_last4"))
        return True

    # ---- the lookup itself ------------------------------------------------------------------------
    async def _search(self, ctx: Step, ref: OrderRef) -> None:
        t, policy = ctx.t, ctx.lookup
        st = t.state
        st.remember_number(ref.order_number, ref.posting_number)
        if ref.order_number in st.locked:
            await ctx.follow(self.locked)
            return
        now = t.now.timestamp()
        recent = [ts for ts in st.lookups if now - ts < policy.window_s]
        if len(recent) >= policy.max_lookups:
            minutes = max(1, int((policy.window_s - (now - recent[0])) // 60) + 1)
            t.emit(Say("lookup.rate_limited", {"minutes": minutes}, count=minutes))
            t.record("lookup_rate_limited")
            st.lookups = recent
            st.at = None
            return
        st.lookups = [*recent, now]
        try:
            found = await policy.orders.find(ref)
        except OrderBackendUnavailable:
            t.record("backend_unavailable", order=ref.text)
            await ctx.follow(self.unavailable)
            return
        if not found:
            t.set_order(None)
            await ctx.follow(self.not_found)
            return
        if len(found) > 1:
            st.vars["_postings"] = [
                {"posting_number": o.posting_number,
                 "status_label": f"status.{o.status}" if o.status_known else "status.unknown"}
                for o in found
            ]
            self._ask(ctx, PICK)
            return
        order = found[0]
        if order.order_number in st.verified:
            await self._found(ctx, order)
            return
        if not order.phone_last4:
            # The provider cannot prove ownership (FBO, most FBS): an agent confirms it instead.
            t.set_order(order)
            t.emit(Say("lookup.cannot_verify"))
            await ctx.follow("flow:talk_to_agent")
            return
        st.vars["_pending"] = order.posting_number  # re-read at the answer: no order details in state yet
        self._ask(ctx, OWNER)

    async def _found(self, ctx: Step, order: Order) -> None:
        st = ctx.t.state
        ctx.t.set_order(order)
        st.remember_number(order.order_number, order.posting_number)
        ctx.t.record("order_found", order=order.posting_number, status=order.status)
        await ctx.follow(self.found)


def _matches(order: Order, ref: OrderRef) -> bool:
    if ref.posting_number:
        return order.posting_number == ref.posting_number
    return order.order_number == ref.order_number
