from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.engine.nodes.base import Message, NodeBase, Strict


class ChoiceOption(Strict):
    """One button. Typing the label (in either language) or its number picks it too."""

    label: Message
    goto: str
    id: str = ""  # stable id for callback data; defaults to the option's position
    when: str | None = None  # condition: show the option only when true
    set: dict[str, str] = {}  # vars to set (expressions) when picked


class ChoiceNode(NodeBase):
    """Ask the buyer to pick one of several options."""

    kind: Literal["choice"]
    say: Message | None = None
    options: list[ChoiceOption]

    @model_validator(mode="after")
    def _ids(self) -> "ChoiceNode":
        for i, opt in enumerate(self.options):
            if not opt.id:
                object.__setattr__(opt, "id", str(i + 1))
        return self

    def targets(self) -> list[tuple[str, str]]:
        return [(f"options[{i}].goto", o.goto) for i, o in enumerate(self.options)]

    def messages(self) -> list[tuple[str, Message]]:
        out = super().messages()
        out += [(f"options[{i}].label", o.label) for i, o in enumerate(self.options)]
        return out

    @property
    def waits(self) -> bool:
        return True
