from __future__ import annotations

from typing import Literal

from bot.engine.nodes.base import Message, NodeBase

InputKind = Literal["order_number", "phone_last4", "free_text", "media"]


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

    @property
    def waits(self) -> bool:
        return True
