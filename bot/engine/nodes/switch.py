from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from bot.engine.conditions import Compiled
from bot.engine.nodes.base import NodeBase, NodeProblem, Step, Strict


class Case(Strict):
    when: str
    goto: str


class SwitchNode(NodeBase):
    """Go to the first case whose condition holds, else to `else`."""

    kind: Literal["switch"]
    cases: list[Case]
    else_: str | None = Field(default=None, alias="else")

    model_config = ConfigDict(**NodeBase.model_config, populate_by_name=True)
    shape: ClassVar[str] = "decision"

    def targets(self) -> list[tuple[str, str]]:
        out = [(f"cases[{i}].goto", c.goto) for i, c in enumerate(self.cases)]
        if self.else_ is not None:
            out.append(("else", self.else_))
        return out

    def expressions(self) -> Iterator[tuple[str, str, bool]]:
        for i, c in enumerate(self.cases):
            yield f"cases[{i}].when", c.when, True
        yield from super().expressions()

    def problems(self) -> Iterator[NodeProblem]:
        if self.else_ is None:
            yield (), "switch has no 'else'", "add 'else: <node>' for orders no case matches", "switch_else"

    def prepare(self, fns: dict[str, Compiled]) -> tuple[tuple[Compiled, str], ...]:
        # A switch is a tight loop: keep its cases flat.
        return tuple((fns[case.when], case.goto) for case in self.cases)

    def enter(self, ctx: Step, node_id: str) -> str:
        env = ctx.t.env()
        for when, goto in ctx.prepared(self):
            if when(env):
                return goto
        return self.else_ or ""

    def summary(self) -> str:
        return "decide by the order"

    def edges(self, text) -> list[tuple[str, str]]:
        out = [(c.when, c.goto) for c in self.cases]
        if self.else_ is not None:
            out.append(("else", self.else_))
        return out
