"""The engine: (state, event) -> (new state, effects). Pure apart from awaiting the order port."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.engine.conditions import MissingOrder
from bot.engine.content import Content
from bot.engine.effects import Effect, Say
from bot.engine.events import Buyer, Command, Contact, Event, Media, Press, Start, StartFlow, Text
from bot.engine.lookup import Lookup
from bot.engine.nodes.base import NodeBase
from bot.engine.ports import Clock, SystemClock
from bot.engine.runner import Runner, StepLimitExceeded
from bot.engine.state import ConversationState, Position
from bot.engine.turn import Turn
from bot.i18n.locale import choose_language, language_from_code, language_from_script
from bot.orders.numbers import OrderRef, find_order_number, parse_order_number

log = logging.getLogger(__name__)

MAX_TEXT = 4096
# Flows the engine itself starts. They must exist (the validators check it).
MAIN_MENU = "main_menu"
NOT_UNDERSTOOD = "not_understood"
INTERNAL_ERROR = "internal_error"
ORDER_STATUS = "order_status"


@dataclass
class TurnResult:
    state: ConversationState
    effects: list[Effect]
    events: list[tuple[str, dict[str, Any]]]


class Engine:
    """Runs one turn on the content snapshot `content()` returns at the turn's start (the app's
    current one: a reload between turns is seen by the next turn, never half-way through one)."""

    def __init__(self, content: Content | Callable[[], Content], lookup: Lookup, *, default_lang: str,
                 clock: Clock | None = None, max_steps: int = 64) -> None:
        self.content: Callable[[], Content] = content if callable(content) else (lambda: content)
        self.lookup = lookup
        self.default_lang = default_lang
        self.clock = clock or SystemClock()
        self.max_steps = max_steps

    async def handle(self, state: ConversationState | None, event: Event, buyer: Buyer) -> TurnResult:
        st = state or ConversationState()
        content = self.content()
        t = Turn(st, buyer, self.clock.now())
        self._choose_language(t, event, content.languages)
        r = Runner(t, content, self.lookup, self.max_steps)
        try:
            await self._dispatch(r, event)
        except (StepLimitExceeded, MissingOrder, KeyError, ValueError, TypeError) as exc:
            log.exception("flow error for buyer %s at %s: %s", buyer.id, st.at, exc)
            await self._internal_error(r, exc)
        return TurnResult(t.state, t.effects, t.events)

    async def _internal_error(self, r: Runner, exc: Exception) -> None:
        t = r.t
        t.effects.clear()
        t.record("internal_error", error=type(exc).__name__)
        t.state.at = None
        t.steps = 0
        try:
            await r.start_flow(INTERNAL_ERROR)
        except Exception:  # the error flow itself failed: say the fixed message
            log.exception("internal_error flow failed")
            t.effects[:] = [Say("common.not_understood")]
            t.state.at = None

    def _choose_language(self, t: Turn, event: Event, languages: tuple[str, ...]) -> None:
        st = t.state
        text = event.text if isinstance(event, Text) else None
        if st.lang is None:
            st.lang = choose_language(None, t.buyer.language_code, text, self.default_lang, languages)
        elif not st.lang_explicit and not language_from_code(t.buyer.language_code, languages):
            st.lang = language_from_script(text, languages) or st.lang

    # ---- dispatch -----------------------------------------------------------------------------
    async def _dispatch(self, r: Runner, event: Event) -> None:
        st = r.t.state
        if isinstance(event, Start):
            self._reset(st)
            ref = parse_order_number(event.verified_posting) if event.verified_posting else None
            if ref:
                await self._signed_link(r, event, ref)
                return
            await r.start_flow(MAIN_MENU)
        elif isinstance(event, Contact):
            await self._contact(r, event)
        elif isinstance(event, Command):
            await self._command(r, event)
        elif isinstance(event, Press):
            await self._press(r, event)
        elif isinstance(event, Media):
            await self._media(r, event)
        elif isinstance(event, Text):
            await self._text(r, event.text)
        elif isinstance(event, StartFlow):
            self._reset(st)
            await r.start_flow(event.flow)

    async def _signed_link(self, r: Runner, event: Start, ref: OrderRef) -> None:
        """A signed link proves the order when it is within its expiry and this buyer is the first
        to open it; otherwise say why, politely, and ask for the usual proof."""
        t = r.t
        st = t.state
        st.remember_number(ref.order_number, ref.posting_number)
        if event.link_expired:
            t.record("link_expired", order=ref.order_number)
            t.emit(Say("lookup.link_expired"))
        else:
            owner = await self.lookup.ledger.claim_link(event.link_id or ref.text, t.buyer.id, t.now.timestamp())
            if owner == t.buyer.id:
                st.verified = [*st.verified, ref.order_number][-20:]
                t.record("owner_proven", order=ref.order_number, method="link")
            else:
                t.record("link_foreign", order=ref.order_number)
                t.emit(Say("lookup.link_foreign"))
        await r.start_flow(ORDER_STATUS)

    async def _contact(self, r: Runner, event: Contact) -> None:
        if await self._lost_position(r):
            return
        node = self._position(r)
        if node is not None and await node.answer_contact(r, event.phone):
            return
        r.t.emit(Say("common.media_not_expected"))
        await self.reshow(r)

    def _reset(self, st: ConversationState) -> None:
        st.at = None
        st.not_understood = 0
        for key in [k for k in st.vars if k.startswith("_")]:
            del st.vars[key]

    async def _command(self, r: Runner, cmd: Command) -> None:
        st = r.t.state
        if cmd.name.lower() == "bot":  # the buyer leaves the agents' queue: the bot takes over again
            self._reset(st)
            r.t.emit(Say("common.back_to_bot"))
            await r.start_flow(MAIN_MENU)
            return
        flow_id = r.registry.current.commands.get(cmd.name.lower())
        if flow_id is None:
            await self._not_understood(r)
            return
        self._reset(st)
        ref = find_order_number(cmd.arg) if cmd.arg else None
        if ref:
            st.remember_number(ref.order_number, ref.posting_number)
        await r.start_flow(flow_id)

    # ---- where the buyer is -------------------------------------------------------------------
    def _position(self, r: Runner) -> NodeBase | None:
        """The buyer's node, with the runner placed in its flow version; None when idle or the
        node vanished in an edit."""
        st = r.t.state
        if st.at is None:
            return None
        found = r.registry.version(st.at.flow, st.at.version)
        if found is None:  # restarted after an edit: move on only where the node still exists
            current = r.registry.current
            if st.at.flow in current and st.at.node in current[st.at.flow].nodes:
                flow = current[st.at.flow]
                st.at.version = flow.version
                r.at(current, flow)
                return flow.nodes[st.at.node]
            return None
        flow, flowset = found
        r.at(flowset, flow)
        return flow.nodes[st.at.node]

    async def _lost_position(self, r: Runner) -> bool:
        """When the buyer's node no longer exists, apologise and show the menu. True if so."""
        st = r.t.state
        if st.at is not None and self._position(r) is None:
            st.at = None
            r.t.emit(Say("common.flow_changed"))
            await r.start_flow(MAIN_MENU)
            return True
        return False

    async def reshow(self, r: Runner) -> None:
        """Show the current step again (after a stale button, unexpected media, not understood)."""
        node = self._position(r)
        if node is not None:
            node.prompt(r)
            return
        # idle: offer the menu's buttons without greeting again
        menu = r.registry.current[MAIN_MENU]
        st = r.t.state
        st.at = Position(flow=menu.id, version=menu.version, node=menu.start)
        if not menu.nodes[menu.start].buttons(r.at(r.registry.current, menu)):
            st.at = None

    # ---- input --------------------------------------------------------------------------------
    async def _press(self, r: Runner, event: Press) -> None:
        st = r.t.state
        if await self._lost_position(r):
            return
        node = self._position(r)
        stale = node is None or (event.node and event.node != _node_key(st))
        if not stale and node is not None and await node.answer_press(r, event.option_id):
            return
        r.t.record("stale_button", option=event.option_id)
        r.t.emit(Say("common.stale_button"))
        await self.reshow(r)

    async def _media(self, r: Runner, event: Media) -> None:
        if await self._lost_position(r):
            return
        node = self._position(r)
        if node is not None and await node.answer_media(r, event):
            return
        r.t.emit(Say("common.media_not_expected"))
        await self.reshow(r)

    async def _text(self, r: Runner, raw: str) -> None:
        st = r.t.state
        text = _clean(raw)
        if not text:
            r.t.emit(Say("common.empty_message"))
            if st.at is not None:
                await self.reshow(r)
            return
        if await self._lost_position(r):
            return
        node = self._position(r)
        if node is not None and await node.answer_text(r, text):
            st.not_understood = 0
            return
        await self._interpret(r, text)

    async def _interpret(self, r: Runner, text: str) -> None:
        """Free text that answers no pending question: an order number, a keyword, or not understood."""
        st = r.t.state
        ref = find_order_number(text)
        flow_id = r.registry.current.match_keyword(text)
        if ref is not None:  # "хочу отменить 57195475-0050": the keyword's flow, with that number
            self._reset(st)
            st.remember_number(ref.order_number, ref.posting_number)
            await r.start_flow(flow_id or ORDER_STATUS)
            return
        if flow_id is not None:
            self._reset(st)
            await r.start_flow(flow_id)
            return
        await self._not_understood(r)

    async def _not_understood(self, r: Runner) -> None:
        st = r.t.state
        st.not_understood += 1
        r.t.record("not_understood", count=st.not_understood)
        if st.not_understood >= 2:
            st.not_understood = 0
            st.at = None
            await r.start_flow(NOT_UNDERSTOOD)
            return
        r.t.emit(Say("common.not_understood"))
        await self.reshow(r)


def _node_key(st: ConversationState) -> str:
    return st.at.node if st.at else ""


# Control characters, zero-width and bidirectional marks: invisible, and a way to hide text.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _clean(text: str) -> str:
    """Trim, drop invisible characters, cap the length."""
    return _INVISIBLE.sub("", (text or "")[: MAX_TEXT * 3]).strip()[:MAX_TEXT]
