"""The engine: (state, event) -> (new state, effects). Pure apart from awaiting the order port."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.engine.conditions import MissingOrder
from bot.engine.effects import Ask, Choices, Effect, Option, Say
from bot.engine.events import Buyer, Command, Event, Media, Press, Start, StartFlow, Text
from bot.engine.flow import Flow
from bot.engine.flowset import FlowRegistry, FlowSet
from bot.engine.keywords import fold
from bot.engine.lookup import NUMBER, PICK, Lookup
from bot.engine.nodes import AskNode, ChoiceNode, LookupOrderNode
from bot.engine.ports import Clock, Messages, SystemClock
from bot.engine.runner import Runner, StepLimitExceeded
from bot.engine.state import ConversationState, Position
from bot.engine.turn import Turn
from bot.i18n.locale import choose_language, language_from_code, language_from_script
from bot.orders.numbers import find_order_number, parse_order_number

log = logging.getLogger(__name__)

MAX_TEXT = 4096
# Flows the engine itself starts. They must exist (the validators check it).
MAIN_MENU, NOT_UNDERSTOOD, INTERNAL_ERROR, ORDER_STATUS = "main_menu", "not_understood", "internal_error", "order_status"
MAX_MEDIA_BYTES = 20 * 1024 * 1024


@dataclass
class TurnResult:
    state: ConversationState
    effects: list[Effect]
    events: list[tuple[str, dict[str, Any]]]


class Engine:
    def __init__(self, registry: FlowRegistry, orders, messages: Messages, *, clock: Clock | None = None,
                 default_lang: str = "ru", max_steps: int = 64, lookup: Lookup | None = None) -> None:
        self.registry = registry
        self.messages = messages
        self.clock = clock or SystemClock()
        self.default_lang = default_lang
        self.max_steps = max_steps
        self.lookup = lookup or Lookup(orders)

    async def handle(self, state: ConversationState | None, event: Event, buyer: Buyer) -> TurnResult:
        st = state or ConversationState()
        t = Turn(st, buyer, self.clock.now())
        self._choose_language(t, event)
        r = Runner(self, t)
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
            await r.start_flow(self.registry.current, INTERNAL_ERROR)
        except Exception:  # the error flow itself failed: say the fixed message
            log.exception("internal_error flow failed")
            t.effects[:] = [Say("common.not_understood")]
            t.state.at = None

    def _choose_language(self, t: Turn, event: Event) -> None:
        st = t.state
        text = event.text if isinstance(event, Text) else None
        if st.lang is None:
            st.lang = choose_language(None, t.buyer.language_code, text, self.default_lang)
        elif not st.lang_explicit and not language_from_code(t.buyer.language_code):
            st.lang = language_from_script(text) or st.lang

    # ---- dispatch -----------------------------------------------------------------------------
    async def _dispatch(self, r: Runner, event: Event) -> None:
        st = r.t.state
        current = self.registry.current
        if isinstance(event, Start):
            self._reset(st)
            if event.verified_posting:
                ref = parse_order_number(event.verified_posting)
                if ref:
                    st.verified = (st.verified + [ref.order_number])[-20:]
                    st.remember_number(ref.order_number, ref.posting_number)
                    await r.start_flow(current, ORDER_STATUS)
                    return
            await r.start_flow(current, MAIN_MENU)
        elif isinstance(event, Command):
            await self._command(r, current, event)
        elif isinstance(event, Press):
            await self._press(r, event)
        elif isinstance(event, Media):
            await self._media(r, event)
        elif isinstance(event, Text):
            await self._text(r, event.text)
        elif isinstance(event, StartFlow):
            self._reset(st)
            await r.start_flow(current, event.flow)

    def _reset(self, st: ConversationState) -> None:
        st.at = None
        st.not_understood = 0
        for key in [k for k in st.vars if k.startswith("_")]:
            del st.vars[key]

    async def _command(self, r: Runner, current: FlowSet, cmd: Command) -> None:
        st = r.t.state
        if cmd.name.lower() == "bot":  # the buyer leaves the agents' queue: the bot takes over again
            self._reset(st)
            r.t.emit(Say("common.back_to_bot"))
            await r.start_flow(current, MAIN_MENU)
            return
        flow_id = current.commands.get(cmd.name.lower())
        if flow_id is None:
            await self._not_understood(r)
            return
        self._reset(st)
        ref = find_order_number(cmd.arg) if cmd.arg else None
        if ref:
            st.remember_number(ref.order_number, ref.posting_number)
        await r.start_flow(current, flow_id)

    # ---- where the buyer is -------------------------------------------------------------------
    def _position(self, st: ConversationState) -> tuple[FlowSet, Flow, Any] | None:
        """The buyer's flow version and node; None when idle or the node vanished in an edit."""
        if st.at is None:
            return None
        found = self.registry.version(st.at.flow, st.at.version)
        if found is None:  # restarted after an edit: move on only where the node still exists
            current = self.registry.current
            if st.at.flow in current and st.at.node in current[st.at.flow].nodes:
                flow = current[st.at.flow]
                st.at.version = flow.version
                return current, flow, flow.nodes[st.at.node]
            return None
        flow, flowset = found
        return flowset, flow, flow.nodes[st.at.node]

    async def _lost_position(self, r: Runner) -> bool:
        """When the buyer's node no longer exists, apologise and show the menu. True if so."""
        st = r.t.state
        if st.at is not None and self._position(st) is None:
            st.at = None
            r.t.emit(Say("common.flow_changed"))
            await r.start_flow(self.registry.current, MAIN_MENU)
            return True
        return False

    async def reshow(self, r: Runner) -> None:
        """Show the current step again (after a stale button, unexpected media, not understood)."""
        pos = self._position(r.t.state)
        if pos is None:  # idle: offer the menu's buttons without greeting again
            current = self.registry.current
            menu = current[MAIN_MENU]
            node = menu.nodes[menu.start]
            if isinstance(node, ChoiceNode):
                r.t.state.at = Position(flow=menu.id, version=menu.version, node=menu.start)
                r.t.emit(Choices(tuple(Option(o.id, o.label.msg) for o in r.visible(current, node))))
                r.t.emit(Ask("choice"))
            return
        flowset, flow, node = pos
        if isinstance(node, ChoiceNode):
            r.prompt_choice(flowset, node)
        elif isinstance(node, AskNode):
            r.prompt_ask(flowset, node)
        elif isinstance(node, LookupOrderNode):
            self.lookup.prompt(r, r.t.state.at.phase or NUMBER)  # type: ignore[union-attr]

    # ---- input --------------------------------------------------------------------------------
    async def _press(self, r: Runner, event: Press) -> None:
        st = r.t.state
        if await self._lost_position(r):
            return
        pos = self._position(st)
        stale = pos is None or (event.node and event.node != _node_key(st))
        if not stale and pos is not None:
            flowset, flow, node = pos
            if isinstance(node, ChoiceNode):
                option = next((o for o in r.visible(flowset, node) if o.id == event.option_id), None)
                if option is not None:
                    await self._pick(r, flowset, flow, option)
                    return
            elif isinstance(node, AskNode) and node.skip and event.option_id == "skip":
                st.not_understood = 0
                await r.follow(flowset, flow, node.skip)
                return
            elif isinstance(node, LookupOrderNode) and st.at and st.at.phase == PICK:
                if await self.lookup.receive_pick(r, flowset, flow, node, event.option_id):
                    return
        r.t.record("stale_button", option=event.option_id)
        r.t.emit(Say("common.stale_button"))
        await self.reshow(r)

    async def _pick(self, r: Runner, flowset: FlowSet, flow: Flow, option) -> None:
        st = r.t.state
        st.not_understood = 0
        for key, source in option.set.items():
            st.vars[key] = r.value(flowset, source)
        await r.follow(flowset, flow, option.goto)

    async def _media(self, r: Runner, event: Media) -> None:
        st = r.t.state
        if await self._lost_position(r):
            return
        pos = self._position(st)
        if pos is not None and isinstance(pos[2], AskNode) and pos[2].input == "media":
            flowset, flow, node = pos
            if event.size > MAX_MEDIA_BYTES:
                r.t.emit(Say("ask.media_too_large", {"limit_mb": MAX_MEDIA_BYTES // (1024 * 1024)}))
                r.prompt_ask(flowset, node)
                return
            evidence = list(st.vars.get(node.var) or []) if isinstance(st.vars.get(node.var), list) else []
            evidence.append({"kind": event.kind, "file_id": event.file_id, "size": event.size, "mime": event.mime_type})
            st.vars[node.var] = evidence
            st.not_understood = 0
            await r.follow(flowset, flow, node.next)
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
        pos = self._position(st)
        if pos is not None:
            flowset, flow, node = pos
            if await self._answer(r, flowset, flow, node, text):
                st.not_understood = 0
                return
        await self._interpret(r, text)

    async def _answer(self, r: Runner, flowset: FlowSet, flow: Flow, node, text: str) -> bool:
        """Typed input for the node the buyer is at. False when it does not answer it."""
        st = r.t.state
        if isinstance(node, ChoiceNode):
            option = self._match_option(r, flowset, node, text)
            if option is None:
                return False
            await self._pick(r, flowset, flow, option)
            return True
        if isinstance(node, LookupOrderNode):
            if st.at and st.at.phase == PICK:
                return await self.lookup.receive_pick(r, flowset, flow, node, text)
            return await self.lookup.receive_text(r, flowset, flow, node, text)
        if isinstance(node, AskNode):
            return await self._answer_ask(r, flowset, flow, node, text)
        return False

    async def _answer_ask(self, r: Runner, flowset: FlowSet, flow: Flow, node: AskNode, text: str) -> bool:
        st = r.t.state
        value: Any = None
        if node.input == "free_text":
            value = text[:2000] if any(ch.isalnum() for ch in text) else None
        elif node.input == "order_number":
            ref = find_order_number(text)
            value = ref.text if ref else None
        elif node.input == "phone_last4":
            digits = "".join(ch for ch in text if ch.isdigit())
            value = digits if len(digits) == 4 else None
        elif node.input == "media":
            if node.skip and fold(text) in self._labels(r, "common.skip"):
                await r.follow(flowset, flow, node.skip)
                return True
            value = None
        if value is not None:
            st.vars[node.var] = value
            await r.follow(flowset, flow, node.next)
            return True
        assert st.at is not None
        st.at.retries += 1
        if st.at.retries > node.retries:
            r.t.record("ask_failed", flow=flow.id, node=st.at.node)
            await r.follow(flowset, flow, node.on_fail)
            return True
        if node.invalid is not None:
            r.say(flowset, node.invalid)
        else:
            r.t.emit(Say(f"ask.{node.input}_invalid"))
        r.t.emit(Ask(node.input))
        if node.skip:  # keep the way out on screen
            r.t.emit(Choices((Option("skip", "common.skip"),)))
        return True

    @property
    def messages(self) -> Messages:
        return self._messages

    @messages.setter
    def messages(self, messages: Messages) -> None:  # a live reload swaps them: forget folded labels
        self._messages = messages
        self._folded: dict[str, frozenset[str]] = {}
        # id(choice node) -> (node, folded label -> option), for choices whose options never vary
        self._by_label: dict[int, tuple[ChoiceNode, dict[str, Any]]] = {}

    def _labels(self, r: Runner, msgid: str) -> frozenset[str]:
        """A button's label in every language, folded, for matching what the buyer typed."""
        labels = self._folded.get(msgid)
        if labels is None:
            texts = (self.messages.template(msgid, lang) for lang in self.messages.languages)
            labels = self._folded[msgid] = frozenset(fold(t) for t in texts if t)
        return labels

    def _match_option(self, r: Runner, flowset: FlowSet, node: ChoiceNode, text: str):
        options = r.visible(flowset, node)
        folded = fold(text).rstrip(".)")
        if folded.isdigit():
            idx = int(folded) - 1
            return options[idx] if 0 <= idx < len(options) else None
        if options is node.options:  # no option depends on a condition: one lookup
            hit = self._by_label.get(id(node))
            if hit is None or hit[0] is not node:
                index = {label: o for o in reversed(options) for label in self._labels(r, o.label.msg)}
                hit = self._by_label[id(node)] = (node, index)
            return hit[1].get(folded)
        for option in options:
            if folded in self._labels(r, option.label.msg):
                return option
        return None

    async def _interpret(self, r: Runner, text: str) -> None:
        """Free text that answers no pending question: an order number, a keyword, or not understood."""
        st = r.t.state
        current = self.registry.current
        ref = find_order_number(text)
        flow_id = current.match_keyword(text)
        if ref is not None:  # "хочу отменить 57195475-0050": the keyword's flow, with that number
            self._reset(st)
            st.remember_number(ref.order_number, ref.posting_number)
            await r.start_flow(current, flow_id or ORDER_STATUS)
            return
        if flow_id is not None:
            self._reset(st)
            await r.start_flow(current, flow_id)
            return
        await self._not_understood(r)

    async def _not_understood(self, r: Runner) -> None:
        st = r.t.state
        st.not_understood += 1
        r.t.record("not_understood", count=st.not_understood)
        if st.not_understood >= 2:
            st.not_understood = 0
            st.at = None
            await r.start_flow(self.registry.current, NOT_UNDERSTOOD)
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
