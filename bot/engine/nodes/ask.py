from __future__ import annotations

from typing import Any, Literal

from bot.engine.effects import Ask, Choices, Option, Say
from bot.engine.events import Media
from bot.engine.keywords import fold
from bot.engine.nodes.base import Message, NodeBase, Step, TextOf, target_text
from bot.orders.numbers import find_order_number

InputKind = Literal["order_number", "phone_last4", "free_text", "media"]
MAX_MEDIA_BYTES = 20 * 1024 * 1024
SKIP = Choices((Option("skip", "common.skip"),))


class AskNode(NodeBase):
    """Ask for one piece of input, validate it, store it in `vars[var]`.

    Invalid input is asked again (`invalid` message) up to `retries` times, then `on_fail`.
    `skip` lets the buyer go on without it (e.g. no photo to send).
    """

    kind: Literal["ask"]
    input: InputKind
    say: Message
    var: str
    next: str
    invalid: Message | None = None
    retries: int = 2
    on_fail: str = "flow:talk_to_agent"
    skip: str | None = None  # target for the "skip" button, offered when set

    def targets(self) -> list[tuple[str, str]]:
        out = [("next", self.next), ("on_fail", self.on_fail)]
        if self.skip:
            out.append(("skip", self.skip))
        return out

    def messages(self) -> list[tuple[str, Message]]:
        out = super().messages()
        if self.invalid is not None:
            out.append(("invalid", self.invalid))
        return out

    def variables(self) -> list[str]:
        return [self.var]

    @property
    def waits(self) -> bool:
        return True

    # ---- running ----------------------------------------------------------------------------------
    def enter(self, ctx: Step, node_id: str) -> None:
        self.prompt(ctx)
        return None

    def prompt(self, ctx: Step) -> None:
        ctx.say(self.say)
        ctx.t.emit(Ask(self.input))
        if self.skip:
            ctx.t.emit(SKIP)

    async def answer_press(self, ctx: Step, option_id: str) -> bool:
        if not self.skip or option_id != "skip":
            return False
        ctx.t.state.not_understood = 0
        await ctx.follow(self.skip)
        return True

    async def answer_text(self, ctx: Step, text: str) -> bool:
        st = ctx.t.state
        value: Any = None
        if self.input == "free_text":
            value = text[:2000] if any(ch.isalnum() for ch in text) else None
        elif self.input == "order_number":
            ref = find_order_number(text)
            value = ref.text if ref else None
        elif self.input == "phone_last4":
            digits = "".join(ch for ch in text if ch.isdigit())
            value = digits if len(digits) == 4 else None
        elif self.input == "media" and self.skip and (
                fold(text) in ctx.labels.of("common.skip") or ctx.labels.pick_msg(text, ["common.skip"]) is not None):
            await ctx.follow(self.skip)
            return True
        way_out = ctx.way_out(text, free_text=True) if self.input == "free_text" else (
            ctx.way_out(text, number=self.input == "order_number") if value is None else None)
        if way_out is not None:
            await ctx.follow(way_out)
            return True
        if value is not None:
            st.vars[self.var] = value
            await ctx.follow(self.next)
            return True
        assert st.at is not None
        st.at.retries += 1
        if st.at.retries > self.retries:
            ctx.t.record("ask_failed", flow=ctx.flow_id, node=st.at.node)
            await ctx.follow(self.on_fail)
            return True
        if self.invalid is not None:
            ctx.say(self.invalid)
        else:
            ctx.t.emit(Say(f"ask.{self.input}_invalid"))
        ctx.t.emit(Ask(self.input))
        if self.skip:  # keep the way out on screen
            ctx.t.emit(SKIP)
        return True

    async def answer_media(self, ctx: Step, media: Media) -> bool:
        if self.input != "media":
            return False
        st = ctx.t.state
        if media.size > MAX_MEDIA_BYTES:
            ctx.t.emit(Say("ask.media_too_large", {"limit_mb": MAX_MEDIA_BYTES // (1024 * 1024)}))
            self.prompt(ctx)
            return True
        evidence = list(st.vars.get(self.var) or []) if isinstance(st.vars.get(self.var), list) else []
        evidence.append({"kind": media.kind, "file_id": media.file_id, "size": media.size, "mime": media.mime_type})
        st.vars[self.var] = evidence
        st.not_understood = 0
        await ctx.follow(self.next)
        return True

    # ---- operators' views -------------------------------------------------------------------------
    def summary(self) -> str:
        return f"ask for {self.input.replace('_', ' ')} -> vars.{self.var}"

    def edges(self, text: TextOf) -> list[tuple[str, str]]:
        out = [(f"got {self.input}", self.next), (f"invalid {self.retries + 1}x", self.on_fail)]
        if self.skip:
            out.append(("skip", self.skip))
        return out

    def describe(self, text: TextOf) -> list[str]:
        lines = []
        if self.skip:
            lines.append(f"  buttons:\n    [ {text('common.skip')} ] -> {target_text(self.skip)}")
        return lines + [line for line in super().describe(text) if not line.startswith("  skip ->")]
