from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import Message, NodeBase


class ActionNode(NodeBase):
    """Ask the adapter to do something (`Action` effect), optionally say so, and move on.

    `args` are expressions (`order.posting_number`, `vars.reason`, `"ru"`).
    """

    kind: Literal["action"]
    action: str
    args: dict[str, str] = {}
    say: Message | None = None
    next: str

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]
