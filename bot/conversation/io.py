"""Channel-neutral input and output of the conversation service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.engine.events import Buyer, Event
from bot.store.base import Outgoing


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where the buyer's original message lives on its channel (to copy it to agents, or edit it)."""

    chat: int | str
    message_id: int
    edited_at: float | None = None  # set when this input is an edit of that message
    reply_to: int | None = None  # the message it answers, on the same channel


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a buyer did, as every front end reports it.

    `event` is what the engine gets (None: nothing for the engine, answer with `refusal` instead);
    `kind` and `text` are the transcript line; `receipt` is the inbox key of the update it came
    from (e.g. "tg:1234"), so a repeat is dropped and a crash replays it once.
    """

    conversation: str
    buyer: Buyer
    event: Event | None
    kind: str
    text: str
    refusal: str = ""
    ref: SourceRef | None = None
    receipt: str | None = None
    summary: str = ""  # a one-line description for agents (e.g. "📷 photo: caption")

    @property
    def edited(self) -> bool:
        return self.ref is not None and self.ref.edited_at is not None


@dataclass
class Reply:
    """One turn rendered for a channel: texts with their buttons, plus the raw effects."""

    outgoing: list[Outgoing]
    effects: list[Any]
    lang: str
    message_ids: list[int] = field(default_factory=list)
