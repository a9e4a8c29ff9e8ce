"""The store contract. Every backend passes tests/test_store_contract.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.engine.state import ConversationState


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A bot message about to be sent: its rendered text and the effect it came from."""

    kind: str  # say, choices, handoff, action, end, notice
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    id: int
    chat_id: str
    direction: str  # "in" from the buyer, "out" from the bot, "agent" from a human agent
    kind: str
    text: str
    meta: dict[str, Any]
    at: float
    delivered: bool | None  # None: not attempted yet / not applicable


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    chat_id: str
    name: str
    data: dict[str, Any]
    at: float


class ConversationStore(Protocol):
    async def load_state(self, chat_id: str) -> ConversationState | None: ...

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        """Record a buyer message before it is handled; durable when this returns."""
        ...

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        """Record what a human agent sent the buyer, so the transcript holds the whole conversation."""
        ...

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Atomically save the new state, the replies (ids returned, in order) and the analytics.

        The store may keep `state` itself (no copy): the caller hands it over and does not change it
        afterwards (App.handle never does). `load_state` always returns the caller's own copy."""
        ...

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None: ...

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]: ...

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int: ...

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]: ...

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]: ...

    async def count_conversations(self) -> int: ...

    async def close(self) -> None: ...
