from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import Message, NodeBase


class EndNode(NodeBase):
    """Finish the flow; `resolved` says whether the buyer's problem was handled by the bot."""

    kind: Literal["end"]
    resolved: bool
    say: Message | None = None
