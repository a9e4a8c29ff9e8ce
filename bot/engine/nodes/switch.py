from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.engine.nodes.base import NodeBase, Strict


class Case(Strict):
    when: str
    goto: str


class SwitchNode(NodeBase):
    """Go to the first case whose condition holds, else to `else`."""

    kind: Literal["switch"]
    cases: list[Case]
    else_: str | None = Field(default=None, alias="else")

    model_config = {**NodeBase.model_config, "populate_by_name": True}

    def targets(self) -> list[tuple[str, str]]:
        out = [(f"cases[{i}].goto", c.goto) for i, c in enumerate(self.cases)]
        if self.else_ is not None:
            out.append(("else", self.else_))
        return out
