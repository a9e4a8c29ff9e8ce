"""What the engine asks an adapter to do. Adapters render these; the engine never does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Say:
    """Show the catalog message `msg`, formatted with `params`; `count` selects the plural form."""

    msg: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """One button. `id` is short and stable (safe for 64-byte callback data); `label` is a message."""

    id: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Choices:
    options: tuple[Option, ...]


InputKind = Literal["order_number", "phone_last4", "free_text", "media", "choice"]


@dataclass(frozen=True, slots=True)
class Ask:
    """The engine now waits for this kind of input."""

    kind: InputKind


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the conversation to a human agent."""

    reason: str
    flow_id: str = ""
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """A named side effect for the adapter (urge the seller, request a cancellation, ...)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class End:
    """The flow ended; `resolved` feeds the containment figures."""

    resolved: bool
    flow_id: str = ""


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """The buyer's language changed (adapters may update command menus)."""

    lang: str


Effect = Say | Choices | Ask | Handoff | Action | End | SetLanguage
