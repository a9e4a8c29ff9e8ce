"""Conversation state: plain JSON, saved after every turn.

A restart, or a second process on the same store, continues from exactly this. The classes are
slotted dataclasses (the engine writes their attributes many times a turn); pydantic's
TypeAdapter owns their schema and does the JSON both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from bot.orders.model import Order
from bot.orders.snapshot import load_order


@dataclass(slots=True)
class Position:
    """Where the buyer is: a node of a given version of a flow."""

    flow: str
    version: str
    node: str
    # Sub-step inside a multi-step node (lookup_order: number -> pick posting -> owner check).
    phase: str = ""
    retries: int = 0


@dataclass(slots=True)
class ConversationState:
    lang: str | None = None
    lang_explicit: bool = False
    at: Position | None = None  # None: idle, between flows
    vars: dict[str, Any] = field(default_factory=dict)
    order: str | None = None  # JSON snapshot of the Order being discussed; read it with order_model()
    verified: list[str] = field(default_factory=list)  # order numbers this buyer proved
    owner_failures: dict[str, int] = field(default_factory=dict)
    locked: list[str] = field(default_factory=list)  # orders locked after failed owner checks
    lookups: list[float] = field(default_factory=list)  # timestamps, for the per-buyer rate limit
    not_understood: int = 0
    path: list[str] = field(default_factory=list)  # "flow:node" trail, for handoff context
    other_script: int = 0  # messages in a row written in another language than `lang` (two switch it)

    def remember_number(self, order_number: str, posting_number: str | None) -> None:
        """The number the buyer is asking about (a posting, or a whole order) for the next lookup."""
        self.vars["order_number"] = order_number
        if posting_number:
            self.vars["posting_number"] = posting_number
        else:
            self.vars.pop("posting_number", None)

    def copy(self) -> ConversationState:
        """An independent copy (containers copied; their items are immutable or replaced, never mutated).

        Written out field by field (dataclasses.replace costs 5x more, and the store copies every turn);
        tests/test_store_contract.py fails if a new field is left out."""
        at = self.at
        return ConversationState(
            self.lang, self.lang_explicit,
            Position(at.flow, at.version, at.node, at.phase, at.retries) if at is not None else None,
            dict(self.vars), self.order, list(self.verified), dict(self.owner_failures), list(self.locked),
            list(self.lookups), self.not_understood, list(self.path), self.other_script)

    def order_model(self) -> Order | None:
        """The order being discussed, as an `Order` (parsed from the JSON snapshot)."""
        return load_order(self.order)

    def to_json(self) -> str:
        return _ADAPTER.dump_json(self, exclude_defaults=True).decode()

    @classmethod
    def from_json(cls, data: str | bytes | None) -> ConversationState:
        if not data:
            return cls()
        return _ADAPTER.validate_json(data)


_ADAPTER: TypeAdapter[ConversationState] = TypeAdapter(ConversationState)
