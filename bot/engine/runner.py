"""Stepping through nodes until the flow waits for the buyer, ends, or hands off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.engine.effects import Action, Ask, Choices, End, Handoff, Option, Say, SetLanguage
from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes import (
    ActionNode, AskNode, ChoiceNode, EndNode, GotoNode, HandoffNode, LookupOrderNode, Message, SayNode, SwitchNode,
)
from bot.engine.nodes.base import FLOW_PREFIX, flow_of
from bot.engine.state import Position
from bot.engine.turn import Turn
from bot.i18n.locale import SUPPORTED

if TYPE_CHECKING:
    from bot.engine.engine import Engine


class StepLimitExceeded(RuntimeError):
    """A flow moved through too many nodes in one turn without waiting."""


class Runner:
    """Executes nodes for one turn. Holds no state of its own beyond the turn."""

    __slots__ = ("engine", "t")

    def __init__(self, engine: "Engine", turn: Turn) -> None:
        self.engine = engine
        self.t = turn

    # ---- expressions and messages -------------------------------------------------------------
    def value(self, flowset: FlowSet, source: str) -> Any:
        return flowset.fns[source](self.t.env())

    def say(self, flowset: FlowSet, msg: Message | None) -> None:
        if msg is None:
            return
        params: dict[str, Any] = {}
        count = None
        if msg.params or msg.count:
            env, fns = self.t.env(), flowset.fns
            params = {k: fns[v](env) for k, v in msg.params.items()}
            count = int(fns[msg.count](env)) if msg.count else None
        self.t.emit(Say(msg.msg, params, count))

    # ---- transitions --------------------------------------------------------------------------
    async def start_flow(self, flowset: FlowSet, flow_id: str) -> None:
        flow = flowset[flow_id]
        self.t.record("flow_started", flow=flow.id)
        await self.follow(flowset, flow, flow.start)

    async def follow(self, flowset: FlowSet, flow: Flow, target: str | None) -> None:
        """Step from node to node until one waits for the buyer, ends or hands off.

        A loop rather than a call per node: a status answer passes through ~7 nodes. Jumps to
        another flow land on its newest version. Only lookup_order awaits (the order port).
        """
        t = self.t
        events = t.events
        while target is not None:
            if target.startswith(FLOW_PREFIX):
                flowset = self.engine.registry.current
                flow = flowset[flow_of(target)]
                t.record("flow_started", flow=flow.id)
                target = flow.start
            t.steps += 1
            if t.steps > self.engine.max_steps:
                raise StepLimitExceeded(f"{flow.id}:{target}")
            node = flow.nodes[target]
            st = t.state
            st.at = Position(flow.id, flow.version, target)
            trail = f"{flow.id}:{target}"
            path = st.path
            if not path or path[-1] != trail:
                path.append(trail)
                if len(path) > 30:
                    del path[0]
            events.append(("node_entered", {"flow": flow.id, "node": target}))
            if isinstance(node, LookupOrderNode):
                await self.engine.lookup.enter(self, flowset, flow, node)
                return
            target = self.enter(flowset, flow, target, node)

    def enter(self, flowset: FlowSet, flow: Flow, node_id: str, node) -> str | None:
        """Do what the node does; the next target, or None when the turn stops here."""
        t = self.t
        if isinstance(node, SayNode):
            self.say(flowset, node.say)
            return node.next
        if isinstance(node, SwitchNode):
            env = t.env()
            for when, goto in flowset.switches[id(node)]:
                if when(env):
                    return goto
            return node.else_ or ""
        if isinstance(node, ChoiceNode):
            self.prompt_choice(flowset, node)
            return None
        if isinstance(node, AskNode):
            self.prompt_ask(flowset, node)
            return None
        if isinstance(node, ActionNode):
            args = {k: self.value(flowset, v) for k, v in node.args.items()}
            if node.action == "set_language":
                lang = str(args.get("lang", ""))
                if lang in SUPPORTED:
                    t.state.lang, t.state.lang_explicit = lang, True
                    t.language_changed()
                    t.emit(SetLanguage(lang))
            else:
                t.emit(Action(node.action, args))
                t.record("action", flow=flow.id, node=node_id, action=node.action)
            self.say(flowset, node.say)
            return node.next
        if isinstance(node, HandoffNode):
            self.say(flowset, node.say)
            t.emit(Handoff(node.reason, flow.id, node_id))
            t.record("flow_ended", flow=flow.id, node=node_id, outcome="handed_off", reason=node.reason)
            t.state.at = None
            return None
        if isinstance(node, EndNode):
            self.say(flowset, node.say)
            t.emit(End(node.resolved, flow.id))
            t.record("flow_ended", flow=flow.id, node=node_id, outcome="resolved" if node.resolved else "unresolved")
            t.state.at = None
            return None
        if isinstance(node, GotoNode):
            return FLOW_PREFIX + node.flow
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover - the union is closed

    # ---- prompts (also used to re-show the current step) -------------------------------------
    def prompt_choice(self, flowset: FlowSet, node: ChoiceNode) -> None:
        self.say(flowset, node.say)
        choices = flowset.static_choices.get(id(node))
        if choices is None:
            choices = Choices(tuple(Option(o.id, o.label.msg, self._params(flowset, o.label))
                                    for o in self.visible(flowset, node)))
            if all(o.when is None and not o.label.params for o in node.options):  # the same every time
                flowset.static_choices[id(node)] = choices
        self.t.emit(choices)
        self.t.emit(Ask("choice"))

    def _params(self, flowset: FlowSet, msg: Message) -> dict[str, Any]:
        return {k: self.value(flowset, v) for k, v in msg.params.items()}

    def visible(self, flowset: FlowSet, node: ChoiceNode):
        if all(o.when is None for o in node.options):
            return node.options
        env = self.t.env()
        return [o for o in node.options if o.when is None or flowset.fns[o.when](env)]

    def prompt_ask(self, flowset: FlowSet, node: AskNode) -> None:
        self.say(flowset, node.say)
        self.t.emit(Ask(node.input))
        if node.skip:
            self.t.emit(Choices((Option("skip", "common.skip"),)))
