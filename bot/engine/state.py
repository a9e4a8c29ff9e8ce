"""Conversation state: plain JSON, saved after every turn.

A restart, or a second process on the same store, continues from exactly this.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Position(BaseModel):
    """Where the buyer is: a node of a given version of a flow."""

    flow: str
    version: str
    node: str
    # Sub-step inside a multi-step node (lookup_order: number -> pick posting -> owner check).
    phase: str = ""
    retries: int = 0


class ConversationState(BaseModel):
    lang: str | None = None
    lang_explicit: bool = False
    at: Position | None = None  # None: idle, between flows
    vars: dict[str, Any] = Field(default_factory=dict)
    order: dict[str, Any] | None = None  # snapshot of the Order being discussed (JSON)
    verified: list[str] = Field(default_factory=list)  # order numbers this buyer proved
    owner_failures: dict[str, int] = Field(default_factory=dict)
    locked: list[str] = Field(default_factory=list)  # orders locked after failed owner checks
    lookups: list[float] = Field(default_factory=list)  # timestamps, for the per-buyer rate limit
    not_understood: int = 0
    path: list[str] = Field(default_factory=list)  # "flow:node" trail, for handoff context
    handed_off: bool = False

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_json(cls, data: str | bytes | None) -> "ConversationState":
        if not data:
            return cls()
        return cls.model_validate_json(data)
