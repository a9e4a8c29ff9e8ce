from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Literal

from bot.engine.actions import ACTIONS
from bot.engine.effects import Action, SetLanguage
from bot.engine.nodes.base import Message, NodeBase, NodeProblem, Step


class ActionNode(NodeBase):
    """Ask the adapter to do something (`Action` effect), optionally say so, and move on.

    `args` are expressions (`order.posting_number`, `vars.reason`, `"ru"`).
    """

    kind: Literal["action"]
    action: str
    args: dict[str, str] = {}  # noqa: RUF012 - a pydantic field: each model gets a copy
    say: Message | None = None
    next: str

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def expressions(self) -> Iterator[tuple[str, str, bool]]:
        for k, v in self.args.items():
            yield f"args.{k}", v, False
        yield from super().expressions()

    def problems(self) -> Iterator[NodeProblem]:
        if self.action not in ACTIONS:
            close = difflib.get_close_matches(self.action, list(ACTIONS), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(ACTIONS))}"
            yield ("action",), f"unknown action '{self.action}'", hint, "actions"
            return
        need = ACTIONS[self.action]
        missing, extra = need - set(self.args), set(self.args) - need
        if missing:
            needed = ", ".join(sorted(missing))
            yield ("args",), f"action {self.action} needs args: {needed}", "add them under args:", "actions"
        if extra:
            yield (("args",), f"action {self.action} does not take: {', '.join(sorted(extra))}",
                   f"it takes: {', '.join(sorted(need)) or 'nothing'}", "actions")

    def enter(self, ctx: Step, node_id: str) -> str:
        t = ctx.t
        args = {k: ctx.value(v) for k, v in self.args.items()}
        if self.action == "set_language":
            lang = str(args.get("lang", ""))
            if lang in ctx.languages:
                t.state.lang, t.state.lang_explicit = lang, True
                t.language_changed()
                t.emit(SetLanguage(lang))
        else:
            t.emit(Action(self.action, args))
            t.record("action", flow=ctx.flow_id, node=node_id, action=self.action)
        ctx.say(self.say)
        return self.next

    def summary(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"action {self.action}({args})"
