"""In-memory store, for tests and benchmarks. It hands out copies of the state, so a caller never
changes what is stored without saving it (the same isolation the SQLite store gives)."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.engine.state import ConversationState
from bot.store.base import AnalyticsEvent, Outgoing, TranscriptEntry


class MemoryStore:
    def __init__(self) -> None:
        self._states: dict[str, ConversationState] = {}
        self._messages: list[TranscriptEntry] = []
        self._turns: list[tuple[str, list[tuple[str, dict[str, Any]]], float]] = []  # a turn's events
        self._actions: list[dict[str, Any]] = []

    async def load_state(self, chat_id: str) -> ConversationState | None:
        state = self._states.get(chat_id)
        return state.copy() if state is not None else None

    def _add(self, chat_id: str, direction: str, kind: str, text: str, meta: dict[str, Any] | None,
             delivered: bool | None) -> int:
        entry = TranscriptEntry(len(self._messages) + 1, chat_id, direction, kind, text, dict(meta) if meta else {},
                                time.time(), delivered)
        self._messages.append(entry)
        return entry.id

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        return self._add(chat_id, "in", kind, text, meta, None)

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        return self._add(chat_id, "agent", kind, text, meta, None)

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        self._states[chat_id] = state  # handed over (see ConversationStore.save_turn)
        if events:
            self._turns.append((chat_id, [(name, dict(data)) for name, data in events], time.time()))
        return [self._add(chat_id, "out", o.kind, o.text, o.meta, None) for o in outgoing]

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        old = self._messages[message_id - 1]
        meta = {**old.meta, "error": error} if error else old.meta
        self._messages[message_id - 1] = TranscriptEntry(old.id, old.chat_id, old.direction, old.kind, old.text, meta,
                                                         old.at, delivered)

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]:
        return [m for m in self._messages if m.chat_id == chat_id][-limit:]

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int:
        self._actions.append({"id": len(self._actions) + 1, "chat_id": chat_id, "name": name,
                              "args": json.loads(json.dumps(args, default=str)), "at": time.time()})
        return len(self._actions)

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self._actions if chat_id is None or a["chat_id"] == chat_id]

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]:
        return [AnalyticsEvent(chat_id, name, data, at) for chat_id, events, at in self._turns
                if since is None or at >= since for name, data in events]

    async def count_conversations(self) -> int:
        return len(self._states)

    async def close(self) -> None:
        return None
