from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import Message, NodeBase, Step


class SayNode(NodeBase):
    """Show a message and move on."""

    kind: Literal["say"]
    say: Message
    next: str

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def enter(self, ctx: Step, node_id: str) -> str:
        ctx.say(self.say)
        return self.next
