"""lookup_order: number -> lookup -> pick a posting -> prove ownership -> branch."""

from __future__ import annotations

import hmac
import re
from datetime import date
from functools import lru_cache
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from bot.engine.effects import Action, Ask, Choices, Option, Say
from bot.engine.lookup import DAY, ProductPool
from bot.engine.nodes.base import NodeBase, Step
from bot.engine.state import ConversationState
from bot.i18n.keys import MsgKey
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import Order
from bot.orders.numbers import OrderRef, find_order_number, parse_order_number
from bot.orders.ownership import Question, question

# Sub-steps, kept in the state's position (`phase`) while the node waits.
NUMBER, PICK, OWNER, QUIZ_PRODUCT, QUIZ_DATE = "number", "pick", "owner", "quiz_product", "quiz_date"
_NOT_DIGITS = re.compile(r"\D")


class LookupOrderNode(NodeBase):
    """Find the buyer's order and prove it is theirs, then branch.

    Steps, each waiting for the buyer when needed: ask for the number (unless one is known),
    look it up, prove the order is the buyer's (the recipient's phone: last 4 digits, the whole
    number or a shared contact; without a phone, the product and the order date among decoys; see
    bot/engine/lookup.py), then let the buyer pick a posting when the order has several. Nothing
    of the order is shown before proof. Branches: `found`, `not_found`, `unavailable` (backend
    down), `locked` (too many wrong answers, by this buyer or for this order).
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
        return "find the order: asks for its number, then proof it is the buyer's (phone, or product and date)"

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
        asking for proof or counting a lookup; if the backend is down, the last copy serves."""
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
        elif phase == QUIZ_PRODUCT:
            quiz = st.vars.get("_quiz", {})
            t.emit(Say("lookup.ask_product", {"order_number": st.vars.get("order_number", "")}))
            t.emit(Choices(tuple(Option(str(i + 1), "lookup.quiz_option", {"text": name})
                                 for i, name in enumerate(quiz.get("products", [])))))
            t.emit(Ask("choice"))
        elif phase == QUIZ_DATE:
            quiz = st.vars.get("_quiz", {})
            t.emit(Say("lookup.ask_date"))
            t.emit(Choices(tuple(Option(str(i + 1), "lookup.quiz_option", {"text": date.fromisoformat(day)})
                                 for i, day in enumerate(quiz.get("dates", [])))))
            t.emit(Ask("choice"))
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
        phase = at.phase if at else ""
        if phase == PICK:
            return await self._pick(ctx, option_id)
        if phase in (QUIZ_PRODUCT, QUIZ_DATE):
            return await self._quiz(ctx, phase, option_id)
        return False

    async def answer_text(self, ctx: Step, text: str) -> bool:
        st = ctx.t.state
        phase = st.at.phase if st.at else NUMBER
        if phase == PICK:
            postings = st.vars.get("_postings", [])
            idx = None if text.strip().isdigit() else ctx.labels.pick(text, [[p["posting_number"]] for p in postings])
            return await self._pick(ctx, str(idx + 1) if idx is not None else text)
        if phase in (QUIZ_PRODUCT, QUIZ_DATE):
            return await self._quiz(ctx, phase, text.strip())
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

    async def answer_contact(self, ctx: Step, phone: str) -> bool:
        """The buyer's own number, shared through their channel (Telegram's contact button)."""
        at = ctx.t.state.at
        if not (at and at.phase == OWNER):
            return False
        return await self._phone(ctx, phone, method="contact")

    async def _pick(self, ctx: Step, option_id: str) -> bool:
        postings = ctx.t.state.vars.get("_postings", [])
        if not option_id.isdigit() or not 1 <= int(option_id) <= len(postings):
            return False
        chosen = postings[int(option_id) - 1]["posting_number"]
        ctx.t.state.vars.pop("_postings", None)
        await self._search(ctx, parse_order_number(chosen))  # type: ignore[arg-type]
        return True

    async def _pending(self, ctx: Step) -> list[Order] | None:
        """The postings being proven, read again (no order details wait in the state); None when
        the conversation has moved on (not found, service down)."""
        st = ctx.t.state
        ref = parse_order_number(str(st.vars.get("_pending", "")))
        try:
            candidates = await ctx.lookup.orders.find(ref) if ref else []
        except OrderBackendUnavailable:
            await ctx.follow(self.unavailable)
            return None
        if not candidates:
            _forget(st)
            await ctx.follow(self.not_found)
            return None
        return candidates

    async def _phone(self, ctx: Step, text: str, method: str = "") -> bool:
        t = ctx.t
        digits = _NOT_DIGITS.sub("", text)
        not_a_number = len(digits) != 4 and len(digits) < 10
        if not_a_number and not method and (target := ctx.way_out(text, number=False)) is not None:
            _forget(t.state)
            await ctx.follow(target)
            return True
        if not_a_number:
            t.emit(Say("lookup.phone_format"))
            t.emit(Ask("phone_last4"))
            return True
        candidates = await self._pending(ctx)
        if candidates is None:
            return True
        method = method or ("last4" if len(digits) == 4 else "phone")
        if _phone_matches(digits, candidates):
            await self._proved(ctx, candidates, method)
        else:
            await self._wrong(ctx, candidates[0].order_number, OWNER, "lookup.phone_wrong", method,
                              ctx.lookup.order_wrong_answers)
        return True

    async def _quiz(self, ctx: Step, phase: str, option_id: str) -> bool:
        st = ctx.t.state
        quiz = st.vars.get("_quiz", {})
        options = quiz.get("products" if phase == QUIZ_PRODUCT else "dates", [])
        if not option_id.isdigit() or not 1 <= int(option_id) <= len(options):
            return False
        if phase == QUIZ_PRODUCT:
            quiz["product"] = options[int(option_id) - 1]
            self._ask(ctx, QUIZ_DATE)
            return True
        chosen_product, chosen_day = quiz.get("product"), options[int(option_id) - 1]
        candidates = await self._pending(ctx)
        if candidates is None:
            return True
        q = await self._question(ctx, candidates)
        right = q is not None and chosen_product == q.products[q.product_answer] \
            and chosen_day == q.dates[q.date_answer].isoformat()
        if right:
            st.vars.pop("_quiz", None)
            await self._proved(ctx, candidates, "product_date")
        else:  # never say which half was wrong
            quiz.pop("product", None)
            await self._wrong(ctx, candidates[0].order_number, QUIZ_PRODUCT, "lookup.quiz_wrong", "product_date",
                              ctx.lookup.order_wrong_answers_no_phone)
        return True

    async def _question(self, ctx: Step, postings: list[Order]) -> Question | None:
        policy = ctx.lookup
        pool = await policy.orders.product_names() if isinstance(policy.orders, ProductPool) else []
        return question(postings, pool, policy.secret, ctx.t.buyer.id, ctx.t.now,
                        products=policy.product_options, dates=policy.date_options, tz=_zone(policy.buyer_tz))

    async def _proved(self, ctx: Step, candidates: list[Order], method: str) -> None:
        st = ctx.t.state
        order_number = candidates[0].order_number
        _forget(st)
        st.owner_failures.pop(order_number, None)
        st.verified = [*st.verified, order_number][-20:]
        ctx.t.record("owner_proven", order=order_number, method=method)
        await self._proven(ctx, candidates)

    async def _wrong(self, ctx: Step, order_number: str, phase: str, msg: str, method: str, order_limit: int) -> None:
        """One wrong answer: counted for this buyer and this order across all buyers (persisted);
        the order closes to everyone at `order_limit` wrong answers, with an alert to the agents."""
        t, policy = ctx.t, ctx.lookup
        st = t.state
        now = t.now.timestamp()
        fails = st.owner_failures.get(order_number, 0) + 1
        st.owner_failures[order_number] = fails
        rec = await policy.ledger.owner_wrong(order_number, t.buyer.id, now, lock_after=policy.owner_attempts,
                                              since=now - DAY)
        fails = max(fails, rec.buyer_wrong)
        t.record("owner_wrong", order=order_number, method=method)
        if rec.order_wrong == order_limit:  # exactly once per order, whoever answers
            t.emit(Action("owner_guessing", {"order": order_number, "wrong": rec.order_wrong,
                                             "buyers": rec.order_buyers}))
            t.record("owner_order_closed", order=order_number, buyers=rec.order_buyers)
        left = policy.owner_attempts - fails
        if left <= 0 or rec.order_wrong >= order_limit or rec.buyer_wrong_recent >= policy.buyer_wrong_per_day:
            _forget(st)
            if left <= 0 and order_number not in st.locked:
                st.locked = [*st.locked, order_number]  # the store keeps the lock for good; this is the chat's copy
            t.record("owner_locked", order=order_number)
            await ctx.follow(self.locked)
            return
        t.emit(Say(msg, {"left": left}, count=left))
        self._ask(ctx, phase)

    # ---- the lookup itself ------------------------------------------------------------------------
    async def _search(self, ctx: Step, ref: OrderRef) -> None:
        t, policy = ctx.t, ctx.lookup
        st = t.state
        st.remember_number(ref.order_number, ref.posting_number)
        if ref.order_number in st.locked:
            await ctx.follow(self.locked)
            return
        if ref.order_number not in st.verified:  # a lookup of an order already proven costs nothing
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
        order_number = found[0].order_number
        if order_number in st.verified:
            await self._proven(ctx, found)
            return
        # Nothing of the order is shown before proof: not its postings, not their statuses.
        now = t.now.timestamp()
        rec = await policy.ledger.owner_record(order_number, t.buyer.id, now - DAY)
        if rec.buyer_locked:
            t.record("owner_locked", order=order_number)
            await ctx.follow(self.locked)
            return
        has_phone = any(o.phone_last4 or o.phone_digits for o in found)
        order_limit = policy.order_wrong_answers if has_phone else policy.order_wrong_answers_no_phone
        if rec.order_wrong >= order_limit or rec.buyer_wrong_recent >= policy.buyer_wrong_per_day:
            t.record("owner_closed", order=order_number)
            await ctx.follow(self.locked)
            return
        st.vars["_pending"] = ref.text  # re-read at the answer: no order details in state yet
        if has_phone:
            self._ask(ctx, OWNER)
            return
        q = await self._question(ctx, found)
        if q is None:  # no phone and no catalogue for decoys: an agent confirms it instead
            _forget(st)
            t.set_order(found[0])
            t.emit(Say("lookup.cannot_verify"))
            await ctx.follow("flow:talk_to_agent")
            return
        st.vars["_quiz"] = {"products": list(q.products), "dates": [d.isoformat() for d in q.dates]}
        self._ask(ctx, QUIZ_PRODUCT)

    async def _proven(self, ctx: Step, found: list[Order]) -> None:
        """The order is the buyer's: let them pick a posting when it has several, else go on."""
        st = ctx.t.state
        if len(found) > 1:
            st.vars["_postings"] = [
                {"posting_number": o.posting_number,
                 "status_label": f"status.{o.status}" if o.status_known else "status.unknown"}
                for o in found
            ]
            self._ask(ctx, PICK)
            return
        await self._found(ctx, found[0])

    async def _found(self, ctx: Step, order: Order) -> None:
        st = ctx.t.state
        ctx.t.set_order(order)
        st.remember_number(order.order_number, order.posting_number)
        ctx.t.record("order_found", order=order.posting_number, status=order.status)
        await ctx.follow(self.found)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _forget(st: ConversationState) -> None:
    for key in ("_pending", "_quiz"):
        st.vars.pop(key, None)


def _phone_matches(digits: str, candidates: list[Order]) -> bool:
    """4 digits: the recipient's last 4; 10 or more: the whole number (its last 10 digits, so
    +7 / 8 prefixes match), or its last 4 where the provider knows only those."""
    for o in candidates:
        if len(digits) == 4:
            if o.phone_last4 and hmac.compare_digest(digits, o.phone_last4):
                return True
        elif o.phone_digits:
            if hmac.compare_digest(digits[-10:], o.phone_digits[-10:]):
                return True
        elif o.phone_last4 and hmac.compare_digest(digits[-4:], o.phone_last4):
            return True
    return False


def _matches(order: Order, ref: OrderRef) -> bool:
    if ref.posting_number:
        return order.posting_number == ref.posting_number
    return order.order_number == ref.order_number
