from __future__ import annotations

from typing import ClassVar, Literal

from bot.engine.effects import End
from bot.engine.nodes.base import Message, NodeBase, Step


class EndNode(NodeBase):
    """Finish the flow; `resolved` says whether the buyer's problem was handled by the bot."""

    kind: Literal["end"]
    resolved: bool
    say: Message | None = None

    shape: ClassVar[str] = "stop"

    def enter(self, ctx: Step, node_id: str) -> None:
        t = ctx.t
        ctx.say(self.say)
        t.emit(End(self.resolved, ctx.flow_id))
        t.record("flow_ended", flow=ctx.flow_id, node=node_id, outcome="resolved" if self.resolved else "unresolved")
        t.state.at = None
        return None

    def summary(self) -> str:
        return "end: " + ("resolved" if self.resolved else "not resolved")
