from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import NodeBase


class LookupOrderNode(NodeBase):
    """Find the buyer's order and prove it is theirs, then branch.

    Steps, each waiting for the buyer when needed: ask for the number (unless one is known),
    look it up, let the buyer pick a posting when the order has several, confirm the last 4
    digits of the recipient's phone. Branches: `found`, `not_found`, `unavailable` (backend
    down), `locked` (too many failed ownership checks).
    """

    kind: Literal["lookup_order"]
    found: str
    not_found: str
    unavailable: str = "flow:backend_unavailable"
    locked: str = "flow:owner_locked"

    def targets(self) -> list[tuple[str, str]]:
        return [
            ("found", self.found),
            ("not_found", self.not_found),
            ("unavailable", self.unavailable),
            ("locked", self.locked),
        ]

    @property
    def waits(self) -> bool:
        return True  # it may wait for the number or the phone digits
