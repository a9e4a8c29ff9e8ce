from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import FLOW_PREFIX, NodeBase, Step


class GotoNode(NodeBase):
    """Jump to another flow (its start node), keeping the order and vars."""

    kind: Literal["goto"]
    flow: str

    def targets(self) -> list[tuple[str, str]]:
        return [("flow", FLOW_PREFIX + self.flow)]

    def enter(self, ctx: Step, node_id: str) -> str:
        return FLOW_PREFIX + self.flow

    def summary(self) -> str:
        return f"go to flow {self.flow}"
