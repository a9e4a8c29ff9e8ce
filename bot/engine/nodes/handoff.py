from __future__ import annotations

from typing import ClassVar, Literal

from bot.engine.effects import Handoff
from bot.engine.nodes.base import Message, NodeBase, Step


class HandoffNode(NodeBase):
    """Hand the conversation to a human agent with a reason for the agents' card."""

    kind: Literal["handoff"]
    reason: str
    say: Message | None = None

    shape: ClassVar[str] = "stop"

    def enter(self, ctx: Step, node_id: str) -> None:
        t = ctx.t
        ctx.say(self.say)
        t.emit(Handoff(self.reason, ctx.flow_id, node_id))
        t.record("flow_ended", flow=ctx.flow_id, node=node_id, outcome="handed_off", reason=self.reason)
        t.state.at = None
        return None

    def summary(self) -> str:
        return f"hand over to an agent (reason: {self.reason})"
