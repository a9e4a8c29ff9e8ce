"""Stepping through nodes until the flow waits for the buyer, ends, or hands off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.engine.effects import Action, Ask, Choices, End, Handoff, Option, Say, SetLanguage
from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes import (
    ActionNode, AskNode, ChoiceNode, EndNode, GotoNode, HandoffNode, LookupOrderNode, Message, SayNode, SwitchNode,
)
from bot.engine.nodes.base import flow_of, is_flow_target
from bot.engine.state import Position
from bot.engine.turn import Turn
from bot.i18n.locale import SUPPORTED

if TYPE_CHECKING:
    from bot.engine.engine import Engine


class StepLimitExceeded(RuntimeError):
    """A flow moved through too many nodes in one turn without waiting."""


class Runner:
    """Executes nodes for one turn. Holds no state of its own beyond the turn."""

    def __init__(self, engine: "Engine", turn: Turn) -> None:
        self.engine = engine
        self.t = turn

    # ---- expressions and messages -------------------------------------------------------------
    def value(self, flowset: FlowSet, source: str) -> Any:
        return flowset.fns[source](self.t.env())

    def say(self, flowset: FlowSet, msg: Message | None) -> None:
        if msg is None:
            return
        params = {k: self.value(flowset, v) for k, v in msg.params.items()}
        count = int(self.value(flowset, msg.count)) if msg.count else None
        self.t.emit(Say(msg.msg, params, count))

    # ---- transitions --------------------------------------------------------------------------
    async def start_flow(self, flowset: FlowSet, flow_id: str) -> None:
        flow = flowset[flow_id]
        self.t.record("flow_started", flow=flow.id)
        await self.goto(flowset, flow, flow.start)

    async def follow(self, flowset: FlowSet, flow: Flow, target: str) -> None:
        if is_flow_target(target):
            current = self.engine.registry.current  # jumps always land on the newest version
            await self.start_flow(current, flow_of(target))
        else:
            await self.goto(flowset, flow, target)

    async def goto(self, flowset: FlowSet, flow: Flow, node_id: str) -> None:
        self.t.steps += 1
        if self.t.steps > self.engine.max_steps:
            raise StepLimitExceeded(f"{flow.id}:{node_id}")
        node = flow.nodes[node_id]
        st = self.t.state
        st.at = Position(flow=flow.id, version=flow.version, node=node_id)
        trail = f"{flow.id}:{node_id}"
        path = st.path
        if not path or path[-1] != trail:
            path.append(trail)
            if len(path) > 30:
                del path[0]
        self.t.record("node_entered", flow=flow.id, node=node_id)
        await self.enter(flowset, flow, node_id, node)

    async def enter(self, flowset: FlowSet, flow: Flow, node_id: str, node) -> None:
        t = self.t
        if isinstance(node, SayNode):
            self.say(flowset, node.say)
            await self.follow(flowset, flow, node.next)
        elif isinstance(node, ChoiceNode):
            self.prompt_choice(flowset, node)
        elif isinstance(node, AskNode):
            self.prompt_ask(flowset, node)
        elif isinstance(node, LookupOrderNode):
            await self.engine.lookup.enter(self, flowset, flow, node)
        elif isinstance(node, SwitchNode):
            env = t.env()
            for when, goto in flowset.switches[id(node)]:
                if when(env):
                    await self.follow(flowset, flow, goto)
                    return
            await self.follow(flowset, flow, node.else_ or "")
        elif isinstance(node, ActionNode):
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
            await self.follow(flowset, flow, node.next)
        elif isinstance(node, HandoffNode):
            self.say(flowset, node.say)
            t.emit(Handoff(node.reason, flow.id, node_id))
            t.record("flow_ended", flow=flow.id, node=node_id, outcome="handed_off", reason=node.reason)
            t.state.at = None
        elif isinstance(node, EndNode):
            self.say(flowset, node.say)
            t.emit(End(node.resolved, flow.id))
            t.record("flow_ended", flow=flow.id, node=node_id, outcome="resolved" if node.resolved else "unresolved")
            t.state.at = None
        elif isinstance(node, GotoNode):
            await self.start_flow(self.engine.registry.current, node.flow)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown node {node!r}")

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
