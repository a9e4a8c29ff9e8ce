"""What adapters feed the engine: one event per buyer action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Start:
    """/start, optionally with a signed deep link whose signature the adapter checked.

    `verified_posting`: the posting the link was signed for; `link_id`: what identifies that link
    (it binds to the first buyer who opens it); `link_expired`: signed, but older than its expiry."""

    verified_posting: str | None = None
    link_id: str = ""
    link_expired: bool = False


@dataclass(frozen=True, slots=True)
class Contact:
    """The buyer shared their own phone number (the channel vouches it is the sender's own, e.g.
    Telegram's "share my phone number" button); digits only."""

    phone: str


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


Event = Start | Text | Press | Media | Command | StartFlow | Contact


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who is talking, as the adapter knows them."""

    id: str
    language_code: str = ""
    name: str = ""
