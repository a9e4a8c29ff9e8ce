"""What adapters feed the engine: one event per buyer action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Start:
    """/start, optionally with a deep-link payload already verified by the adapter."""

    verified_posting: str | None = None


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Press:
    """A button press; `option_id` is an `Option.id`, `node` the node that showed the buttons."""

    option_id: str
    node: str = ""


@dataclass(frozen=True, slots=True)
class Media:
    kind: Literal["photo", "video", "document"]
    file_id: str
    size: int = 0
    mime_type: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    """A buyer command the engine understands: menu, lang, order, agent, help, bot."""

    name: str
    arg: str = ""


@dataclass(frozen=True, slots=True)
class StartFlow:
    """An adapter starts a named flow itself (e.g. the system flow `no_agent` when nobody can take a handoff)."""

    flow: str


Event = Start | Text | Press | Media | Command | StartFlow


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who is talking, as the adapter knows them."""

    id: str
    language_code: str = ""
    name: str = ""
