"""The engine: (state, event) -> (new state, effects). Pure apart from awaiting the order port."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.engine.conditions import MissingOrder
from bot.engine.content import Content
from bot.engine.effects import Ask, Choices, Effect, Option, Say, SetLanguage
from bot.engine.events import Buyer, Command, Contact, Event, Media, Press, Start, StartFlow, Text
from bot.engine.lookup import Lookup
from bot.engine.nodes.base import NodeBase
from bot.engine.ports import Clock, SystemClock
from bot.engine.runner import Runner, StepLimitExceeded
from bot.engine.state import ConversationState, Position
from bot.engine.turn import Turn
from bot.engine.understanding import Route, is_thanks, language_asked, mask_digits
from bot.i18n.locale import choose_language, language_from_code, language_from_script
from bot.orders.numbers import OrderRef, find_order_number, parse_order_number

log = logging.getLogger(__name__)

MAX_TEXT = 4096
SUGGEST = "nlu:"  # option id prefix of a "did you mean" button: nlu:<flow id>
LOW_CONFIDENCE = 0.35  # routed, but recorded for operators to review (ozonbot stats)
EVIDENCE_FLOWS = ("request_return", "refuse_delivery")  # where a photo or video is evidence of damage
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
        """The first message picks the language (Telegram's, else the script, else the default); then
        the language follows the buyer: two messages in a row in the other script switch it, unless
        the buyer chose one (/lang, the language button, or asking in words)."""
        st = t.state
        text = event.text if isinstance(event, Text) else None
        if st.lang is None:
            st.lang = choose_language(None, t.buyer.language_code, text, self.default_lang, languages)
            return
        if st.lang_explicit or text is None:
            return
        script = language_from_script(text, languages)
        if script is None or script == st.lang:
            st.other_script = 0
            return
        st.other_script += 1
        if st.other_script >= 2 or not (language_from_code(t.buyer.language_code, languages) or st.at or st.path):
            st.lang, st.other_script = script, 0
            t.record("language_followed", lang=script)

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
        node = self._position(r)
        if node is None and await self._lost(r):
            return
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

    async def _lost(self, r: Runner) -> bool:
        """Called when `_position` found no node: if the buyer had one (it no longer exists),
        apologise and show the menu. True if so."""
        st = r.t.state
        if st.at is not None:
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
        if event.option_id.startswith(SUGGEST) and await self._suggestion(r, event.option_id[len(SUGGEST):]):
            return
        node = self._position(r)
        if node is None and await self._lost(r):
            return
        stale = node is None or (event.node and event.node != _node_key(st))
        if not stale and node is not None and await node.answer_press(r, event.option_id):
            return
        r.t.record("stale_button", option=event.option_id)
        r.t.emit(Say("common.stale_button"))
        await self.reshow(r)

    async def _media(self, r: Runner, event: Media) -> None:
        node = self._position(r)
        if node is None and await self._lost(r):
            return
        if node is not None and await node.answer_media(r, event):
            return
        if self._keep_evidence(r, event):
            return
        r.t.emit(Say("common.media_not_expected"))
        await self.reshow(r)

    def _keep_evidence(self, r: Runner, media: Media) -> bool:
        """A photo or video sent anywhere in a return or damage conversation is evidence: kept in
        `vars.evidence` (what the return request sends), never refused."""
        st = r.t.state
        flow = st.at.flow if st.at is not None else (st.path[-1].split(":", 1)[0] if st.path else "")
        if flow not in EVIDENCE_FLOWS and st.vars.get("reason") not in ("damaged", "defective", "wrong_item"):
            return False
        evidence = st.vars.get("evidence")
        kept = list(evidence) if isinstance(evidence, list) else []
        kept.append({"kind": media.kind, "file_id": media.file_id, "size": media.size, "mime": media.mime_type})
        st.vars["evidence"] = kept[-20:]
        r.t.record("evidence_kept", flow=flow, kind=media.kind)
        r.t.emit(Say("common.evidence_saved"))
        if st.at is not None:
            node = self._position(r)
            if node is not None:
                node.prompt(r)
        return True

    async def _text(self, r: Runner, raw: str) -> None:
        st = r.t.state
        text = _clean(raw)
        if not text:
            r.t.emit(Say("common.empty_message"))
            if st.at is not None:
                await self.reshow(r)
            return
        node = self._position(r)
        if node is None and await self._lost(r):
            return
        if node is not None and node.shape == "choice" and (ref := find_order_number(text)) is not None:
            # "мой заказ 46209644-0084 где он" typed at the menu: the button it picks looks that number up
            st.remember_number(ref.order_number, ref.posting_number)
        if node is not None and await node.answer_text(r, text):
            st.not_understood = 0
            return
        if await self._typed_suggestion(r, text):
            return
        if self._language_in_words(r, text):
            if st.at is not None:
                await self.reshow(r)
            else:
                await r.start_flow(MAIN_MENU)
            return
        await self._interpret(r, text)

    def _language_in_words(self, r: Runner, text: str) -> bool:
        """"можно по-китайски", "说俄语": switch as the language button would (explicit from then on)."""
        lang = language_asked(text)
        if lang is None or lang not in r.languages:
            return False
        st = r.t.state
        st.lang, st.lang_explicit, st.other_script = lang, True, 0
        r.t.language_changed()
        r.t.emit(SetLanguage(lang))
        r.t.record("language_asked", lang=lang)
        r.t.emit(Say("language.done"))
        return True

    async def _interpret(self, r: Runner, text: str) -> None:
        """Free text that answers no pending question: an order number, a flow the text asks for
        (bot/engine/understanding.py), or not understood with the closest flows offered."""
        st = r.t.state
        ref = find_order_number(text)
        route = r.registry.current.route(text)
        flow_id = route.flow
        if flow_id is not None and route.confidence < LOW_CONFIDENCE:
            r.t.record("nlu_low_confidence", text=mask_digits(text)[:200], flow=flow_id,
                       confidence=round(route.confidence, 3))
        if ref is not None:  # "хочу отменить 57195475-0050": the flow asked for, with that number
            self._reset(st)
            st.remember_number(ref.order_number, ref.posting_number)
            await r.start_flow(flow_id if flow_id not in (None, MAIN_MENU) else ORDER_STATUS)
            return
        if flow_id is not None:
            self._reset(st)
            await r.start_flow(flow_id)
            return
        if is_thanks(text):  # "спасибо", "好的": a polite close, not "I did not understand"
            st.not_understood = 0
            r.t.record("thanks")
            r.t.emit(Say("common.bye"))
            return
        await self._not_understood(r, route, text)

    async def _not_understood(self, r: Runner, route: Route | None = None, text: str = "") -> None:
        st = r.t.state
        st.not_understood += 1
        data: dict[str, Any] = {"count": st.not_understood}
        if text:
            data["text"] = mask_digits(text)[:200]
        r.t.record("not_understood", **data)
        suggestions = [f for f in (route.suggestions if route else ()) if f in r.registry.current]
        if st.not_understood >= 2:
            st.not_understood = 0
            st.at = None
            await r.start_flow(NOT_UNDERSTOOD)
            return
        if suggestions:  # "did you mean": the closest flows as buttons; the current step stays valid
            flows = r.registry.current
            st.vars["_suggest"] = suggestions
            r.t.emit(Say("common.did_you_mean"))
            r.t.emit(Choices((*(Option(SUGGEST + f, flows[f].title.msg) for f in suggestions),
                              Option(SUGGEST + MAIN_MENU, "common.to_menu"))))
            r.t.emit(Ask("choice"))
            return
        r.t.emit(Say("common.not_understood"))
        await self.reshow(r)

    async def _suggestion(self, r: Runner, flow_id: str) -> bool:
        """A "did you mean" button: start that flow."""
        st = r.t.state
        if flow_id not in r.registry.current or flow_id not in [*st.vars.get("_suggest", ()), MAIN_MENU]:
            return False
        self._reset(st)
        r.t.record("nlu_suggestion_taken", flow=flow_id)
        await r.start_flow(flow_id)
        return True

    async def _typed_suggestion(self, r: Runner, text: str) -> bool:
        """A typed answer to "did you mean" ("первое", "да", a title's words)."""
        offered = r.t.state.vars.get("_suggest")
        if not offered:
            return False
        flows = r.registry.current
        titles = [r.labels.of(flows[f].title.msg) if f in flows else frozenset() for f in offered]
        i = r.labels.pick(text, titles)
        if i is None:
            return False
        return await self._suggestion(r, offered[i])


def _node_key(st: ConversationState) -> str:
    return st.at.node if st.at else ""


# Control characters, zero-width and bidirectional marks: invisible, and a way to hide text.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _clean(text: str) -> str:
    """Trim, drop invisible characters, cap the length."""
    return _INVISIBLE.sub("", (text or "")[: MAX_TEXT * 3]).strip()[:MAX_TEXT]
