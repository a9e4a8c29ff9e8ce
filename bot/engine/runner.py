"""Stepping through nodes until the flow waits for the buyer, ends, or hands off.

The runner is the `Step` every node works with: one turn, the content snapshot it runs on (flows
with their old versions, labels for matching typed answers), the order lookup, the step limit.
"""

from __future__ import annotations

from typing import Any

from bot.engine.content import Content
from bot.engine.effects import Say
from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.lookup import Lookup
from bot.engine.nodes.base import FLOW_PREFIX, Message, NodeBase, flow_of
from bot.engine.state import Position
from bot.engine.turn import Turn
from bot.engine.understanding import escape

# Where a way out of a question leads (the flows must exist; otherwise that way out is not offered).
WAYS_OUT = {"agent": "talk_to_agent", "menu": "main_menu", "no_number": "no_order_number"}


class StepLimitExceeded(RuntimeError):
    """A flow moved through too many nodes in one turn without waiting."""


class Runner:
    """Executes nodes for one turn. Holds no state of its own beyond the turn."""

    __slots__ = ("flow", "flowset", "labels", "languages", "lookup", "max_steps", "registry", "t")

    def __init__(self, turn: Turn, content: Content, lookup: Lookup, max_steps: int) -> None:
        self.t = turn
        self.registry = content.registry
        self.labels = content.labels
        self.languages = content.languages
        self.lookup = lookup
        self.max_steps = max_steps
        self.flowset: FlowSet = content.registry.current
        self.flow: Flow | None = None

    @property
    def flow_id(self) -> str:
        return self.flow.id if self.flow is not None else ""

    def at(self, flowset: FlowSet, flow: Flow) -> Runner:
        """Run the next node calls in this flow (of this version)."""
        self.flowset, self.flow = flowset, flow
        return self

    # ---- expressions and messages -------------------------------------------------------------
    def value(self, source: str) -> Any:
        return self.flowset.fns[source](self.t.env())

    def prepared(self, node: NodeBase) -> Any:
        return self.flowset.prepared.get(id(node))

    def params(self, msg: Message) -> dict[str, Any]:
        return {k: self.value(v) for k, v in msg.params.items()}

    def say(self, msg: Message | None) -> None:
        if msg is None:
            return
        params: dict[str, Any] = {}
        count = None
        if msg.params or msg.count:
            env, fns = self.t.env(), self.flowset.fns
            params = {k: fns[v](env) for k, v in msg.params.items()}
            count = int(fns[msg.count](env)) if msg.count else None
        self.t.emit(Say(msg.msg, params, count))

    def way_out(self, text: str, *, free_text: bool = False, number: bool = True) -> str | None:
        """A target when an answer to a question asks for something else instead: a person, the
        menu, "I don't have the number", or (unless the question takes free text) another topic
        the intent model is sure of. None: treat it as the answer."""
        kind = escape(text)
        if (free_text or not number) and kind == "no_number":  # "не помню" at the phone digits is not about the number
            kind = None
        if free_text and len(text.split()) > 6:
            kind = None
        if kind is not None:
            flow = WAYS_OUT[kind]
            if flow in self.registry.current and flow != self.flow_id:
                self.t.record("way_out", kind=kind, flow=flow)
                return FLOW_PREFIX + flow
        if free_text:
            return None
        route = self.registry.current.route(text)
        if route.flow == WAYS_OUT["no_number"] and not number:
            return None
        if route.flow is not None and route.flow != self.flow_id and route.confidence >= 0.45:
            self.t.record("way_out", kind="topic", flow=route.flow)
            return FLOW_PREFIX + route.flow
        return None

    # ---- transitions --------------------------------------------------------------------------
    async def start_flow(self, flow_id: str) -> None:
        """Start a flow's newest version."""
        self.flowset = flowset = self.registry.current
        self.flow = flow = flowset[flow_id]
        self.t.record("flow_started", flow=flow.id)
        await self.follow(flow.start)

    async def follow(self, target: str | None) -> None:
        """Step from node to node until one waits for the buyer, ends or hands off.

        A loop rather than a call per node: a status answer passes through ~7 nodes. Jumps to
        another flow land on its newest version.
        """
        t = self.t
        events = t.events
        flow = self.flow
        while target is not None:
            if target.startswith(FLOW_PREFIX):
                self.flowset = self.registry.current
                flow = self.flow = self.flowset[flow_of(target)]
                t.record("flow_started", flow=flow.id)
                target = flow.start
            assert flow is not None
            t.steps += 1
            if t.steps > self.max_steps:
                raise StepLimitExceeded(f"{flow.id}:{target}")
            node: NodeBase = flow.nodes[target]
            st = t.state
            st.at = Position(flow.id, flow.version, target)
            trail = f"{flow.id}:{target}"
            path = st.path
            if not path or path[-1] != trail:
                path.append(trail)
                if len(path) > 30:
                    del path[0]
            events.append(("node_entered", {"flow": flow.id, "node": target}))
            entered = node.enter(self, target)
            if entered is None or isinstance(entered, str):
                target = entered
            else:  # a node that awaits a port (lookup_order); it may have gone on into another flow
                target = await entered
                flow = self.flow
