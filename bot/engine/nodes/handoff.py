from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import Message, NodeBase


class HandoffNode(NodeBase):
    """Hand the conversation to a human agent with a reason for the agents' card."""

    kind: Literal["handoff"]
    reason: str
    say: Message | None = None
