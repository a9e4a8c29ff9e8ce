from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import model_validator

from bot.engine.conditions import Compiled
from bot.engine.effects import Ask, Choices, Option
from bot.engine.keywords import fold
from bot.engine.labels import Labels
from bot.engine.nodes.base import Message, NodeBase, Step, Strict, TextOf, target_text

ASK_CHOICE = Ask("choice")


class ChoiceOption(Strict):
    """One button. Typing the label (in either language) or its number picks it too."""

    label: Message
    goto: str
    id: str = ""  # stable id for callback data; defaults to the option's position
    when: str | None = None  # condition: show the option only when true
    set: dict[str, str] = {}  # noqa: RUF012 - a pydantic field. Vars to set (expressions) when picked
    # what buyers type for this button, per language, beyond its label and flows/nlu/buttons.yaml
    examples: dict[str, list[str]] = {}  # noqa: RUF012 - a pydantic field: each model gets a copy


class ChoiceNode(NodeBase):
    """Ask the buyer to pick one of several options."""

    kind: Literal["choice"]
    say: Message | None = None
    options: list[ChoiceOption]

    shape: ClassVar[str] = "choice"

    @model_validator(mode="after")
    def _ids(self) -> ChoiceNode:
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

    def expressions(self) -> Iterator[tuple[str, str, bool]]:
        for i, o in enumerate(self.options):
            if o.when:
                yield f"options[{i}].when", o.when, True
            for k, v in o.set.items():
                yield f"options[{i}].set.{k}", v, False
        yield from super().expressions()

    def variables(self) -> list[str]:
        return [k for o in self.options for k in o.set]

    @property
    def waits(self) -> bool:
        return True

    def prepare(self, fns: dict[str, Compiled]) -> Choices | None:
        """The buttons, when they are the same every time (no conditions, no parameters)."""
        if all(o.when is None and not o.label.params for o in self.options):
            return Choices(tuple(Option(o.id, o.label.msg) for o in self.options))
        return None

    # ---- running ----------------------------------------------------------------------------------
    def enter(self, ctx: Step, node_id: str) -> None:
        self.prompt(ctx)
        return None

    def prompt(self, ctx: Step) -> None:
        ctx.say(self.say)
        choices = ctx.prepared(self)
        if choices is None:
            choices = Choices(tuple(Option(o.id, o.label.msg, ctx.params(o.label)) for o in self.visible(ctx)))
        ctx.t.emit(choices)
        ctx.t.emit(ASK_CHOICE)

    def buttons(self, ctx: Step) -> bool:
        ctx.t.emit(Choices(tuple(Option(o.id, o.label.msg) for o in self.visible(ctx))))
        ctx.t.emit(ASK_CHOICE)
        return True

    def visible(self, ctx: Step) -> list[ChoiceOption]:
        if all(o.when is None for o in self.options):
            return self.options
        return [o for o in self.options if o.when is None or ctx.value(o.when)]

    async def answer_press(self, ctx: Step, option_id: str) -> bool:
        option = next((o for o in self.visible(ctx) if o.id == option_id), None)
        if option is None:
            return False
        await self._pick(ctx, option)
        return True

    async def answer_text(self, ctx: Step, text: str) -> bool:
        option = self._match(ctx, text)
        if option is None:
            return False
        await self._pick(ctx, option)
        return True

    def _match(self, ctx: Step, text: str) -> ChoiceOption | None:
        """The option the buyer typed: its number, or its label in any language."""
        options = self.visible(ctx)
        index = ctx.labels.index(self, options) if options is self.options else None
        return match_option(ctx.labels, options, text, index)

    async def _pick(self, ctx: Step, option: ChoiceOption) -> None:
        st = ctx.t.state
        st.not_understood = 0
        for key, source in option.set.items():
            st.vars[key] = ctx.value(source)
        await ctx.follow(option.goto)

    # ---- operators' views -------------------------------------------------------------------------
    def summary(self) -> str:
        return "buttons"

    def edges(self, text: TextOf) -> list[tuple[str, str]]:
        out = []
        for o in self.options:
            label = text(o.label)
            if o.when:
                label += f" (if {o.when})"
            out.append((label, o.goto))
        return out

    def describe(self, text: TextOf) -> list[str]:
        lines = ["  buttons:"]
        lines += [f"    [ {label} ] -> {target_text(target)}" for label, target in self.edges(text)]
        for o in self.options:
            if o.set:
                sets = ", ".join(f"vars.{k} = {v}" for k, v in o.set.items())
                lines.append(f"    ({text(o.label)} sets {sets})")
        return lines


def match_option(labels: Labels, options: list[ChoiceOption], text: str,
                 index: dict[str, ChoiceOption] | None = None) -> ChoiceOption | None:
    """The option a typed answer means: its number, its label in any language (`index`: folded label
    -> option, when prepared), else as buyers type it: an ordinal, part of a label, a synonym from
    flows/nlu/buttons.yaml, a typo (bot/engine/understanding.py)."""
    folded = fold(text).rstrip(".)")
    if folded.isdigit():
        idx = int(folded) - 1
        return options[idx] if 0 <= idx < len(options) else None
    if index is not None:
        found = index.get(folded)
    else:
        found = next((o for o in options if folded in labels.of(o.label.msg)), None)
    if found is not None:
        return found
    if any(o.examples for o in options):
        variants = [(*labels.variants(o.label.msg), *(w for ws in o.examples.values() for w in ws)) for o in options]
        i = labels.pick(text, variants)
    else:
        i = labels.pick_msg(text, [o.label.msg for o in options])
    return options[i] if i is not None else None
