"""In-memory store, for tests and benchmarks. It hands out copies of the state, so a caller never
changes what is stored without saving it (the same isolation the SQLite store gives)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from bot.engine.lookup import OwnerRecord
from bot.engine.state import ConversationState
from bot.store.base import (
    INBOX_NEW,
    INBOX_TURNED,
    PURGED_TABLES,
    AnalyticsEvent,
    InboxItem,
    Outgoing,
    PendingUpdate,
    Retention,
    TranscriptEntry,
    check_outcome,
    no_turn_lock,
)

# (id, chat_id, direction, kind, text, meta, at, delivered): a TranscriptEntry's fields in order
_Row = tuple[int, str, str, str, str, dict[str, Any], float, bool | None]
_CLEAN = OwnerRecord()  # frozen: one instance serves every clean answer


@dataclass(slots=True)
class _InboxRow:
    item: InboxItem
    status: str = INBOX_NEW
    reply_ids: list[int] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)


class MemoryStore:
    def __init__(self) -> None:
        self._states: dict[str, ConversationState] = {}
        # by id, in id order: TranscriptEntry fields as a plain tuple (a frozen dataclass costs ~4x to
        # build, and every reply adds one; reads, which are rare, make the entries)
        self._messages: dict[int, _Row] = {}
        self._last_id = 0
        self._turns: list[tuple[str, list[tuple[str, dict[str, Any]]], float]] = []  # a turn's events
        self._actions: list[dict[str, Any]] = []
        self._last_action = 0
        self._inbox: dict[str, _InboxRow] = {}  # by key, in arrival order
        self._wrong: list[tuple[str, str, float]] = []  # (order, buyer, at) per wrong ownership answer
        self._locks: set[tuple[str, str]] = set()  # (order, buyer)
        self._claims: dict[str, str] = {}  # signed link -> buyer

    turn = staticmethod(no_turn_lock)  # one process

    async def load_state(self, chat_id: str) -> ConversationState | None:
        state = self._states.get(chat_id)
        return state.copy() if state is not None else None

    def _add(self, chat_id: str, direction: str, kind: str, text: str, meta: dict[str, Any] | None,
             delivered: bool | None) -> int:
        self._last_id += 1
        self._messages[self._last_id] = (self._last_id, chat_id, direction, kind, text,
                                         dict(meta) if meta else {}, time.time(), delivered)
        return self._last_id

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None, *,
                           receipt: str | None = None, outcome: str | None = None) -> int:
        if receipt is not None and outcome is not None:
            check_outcome(outcome)
            row = self._inbox.get(receipt)
            if row is not None:
                if row.status not in (INBOX_NEW, INBOX_TURNED):
                    return 0  # already has its outcome: a replay records nothing twice
                row.status = outcome
        return self._add(chat_id, "in", kind, text, meta, None)

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        return self._add(chat_id, "agent", kind, text, meta, None)

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]], *, receipt: str | None = None,
                        followups: list[dict[str, Any]] | None = None,
                        incoming: tuple[str, str] | None = None) -> list[int]:
        if incoming is not None:
            self._add(chat_id, "in", incoming[0], incoming[1], None, None)
        self._states[chat_id] = state  # handed over (see ConversationStore.save_turn)
        if events:
            self._turns.append((chat_id, events, time.time()))  # handed over, as `state` is
        ids = [self._add(chat_id, "out", o.kind, o.text, o.meta, None) for o in outgoing]
        if receipt is not None:
            row = self._inbox.get(receipt)
            if row is not None and row.status == INBOX_NEW:
                row.status, row.reply_ids = INBOX_TURNED, list(ids)
                row.followups = json.loads(json.dumps(followups or [], default=str))
        return ids

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        old = self._messages.get(message_id)
        if old is None:
            return
        meta = {**old[5], "error": error} if error else old[5]
        self._messages[message_id] = (*old[:5], meta, old[6], delivered)

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]:
        return [TranscriptEntry(*m) for m in self._messages.values() if m[1] == chat_id][-limit:]

    async def messages_by_id(self, ids: list[int]) -> list[TranscriptEntry]:
        return [TranscriptEntry(*self._messages[i]) for i in ids if i in self._messages]

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int:
        self._last_action += 1
        self._actions.append({"id": self._last_action, "chat_id": chat_id, "name": name,
                              "args": json.loads(json.dumps(args, default=str)), "at": time.time()})
        return self._last_action

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self._actions if chat_id is None or a["chat_id"] == chat_id]

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]:
        return [AnalyticsEvent(chat_id, name, data, at) for chat_id, events, at in self._turns
                if since is None or at >= since for name, data in events]

    async def count_conversations(self) -> int:
        return len(self._states)

    # ---- inbox ----------------------------------------------------------------------------------
    async def inbox_add(self, items: list[InboxItem]) -> list[str]:
        new: list[str] = []
        for item in items:
            if item.key not in self._inbox:
                self._inbox[item.key] = _InboxRow(item)
                new.append(item.key)
        return new

    async def inbox_finish(self, key: str, outcome: str = "done") -> None:
        check_outcome(outcome)
        row = self._inbox.get(key)
        if row is not None and row.status in (INBOX_NEW, INBOX_TURNED):
            row.status = outcome

    async def inbox_status(self, key: str) -> str | None:
        row = self._inbox.get(key)
        return row.status if row is not None else None

    async def inbox_pending(self) -> list[PendingUpdate]:
        return [PendingUpdate(r.item.key, r.item.chat_id, r.item.payload, r.item.at, r.status, list(r.reply_ids),
                              json.loads(json.dumps(r.followups)))
                for r in self._inbox.values() if r.status in (INBOX_NEW, INBOX_TURNED)]

    # ---- ownership ------------------------------------------------------------------------------
    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        if not self._wrong and not self._locks:  # nobody answered wrong yet: the clean record, no scan
            return _CLEAN
        mine = order_wrong = recent = 0
        buyers: set[str] = set()
        for o, b, at in self._wrong:  # one pass
            if o == order:
                order_wrong += 1
                buyers.add(b)
                mine += b == buyer
            if b == buyer and at >= since:
                recent += 1
        return OwnerRecord(buyer_locked=(order, buyer) in self._locks, buyer_wrong=mine, order_wrong=order_wrong,
                           order_buyers=len(buyers), buyer_wrong_recent=recent)

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        self._wrong.append((order, buyer, at))
        if sum(1 for o, b, _ in self._wrong if o == order and b == buyer) >= lock_after:
            self._locks.add((order, buyer))
        return await self.owner_record(order, buyer, since)

    async def owner_reopen(self, order: str) -> int:
        before = len(self._wrong) + len(self._locks)
        self._wrong = [w for w in self._wrong if w[0] != order]
        self._locks = {lock for lock in self._locks if lock[0] != order}
        return before - len(self._wrong) - len(self._locks)

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        return self._claims.setdefault(link, buyer)

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, now: float, retention: Retention) -> dict[str, int]:
        counts = dict.fromkeys(PURGED_TABLES, 0)
        if retention.transcript_days > 0:
            cutoff = now - retention.transcript_days * 86400
            old = [i for i, m in self._messages.items() if m[6] < cutoff]
            for i in old:
                del self._messages[i]
            counts["messages"] = len(old)
        if retention.analytics_days > 0:
            cutoff = now - retention.analytics_days * 86400
            kept = [t for t in self._turns if not t[2] < cutoff]
            counts["turn_events"], self._turns = len(self._turns) - len(kept), kept
        if retention.actions_days > 0:
            cutoff = now - retention.actions_days * 86400
            kept_actions = [a for a in self._actions if not a["at"] < cutoff]
            counts["actions"], self._actions = len(self._actions) - len(kept_actions), kept_actions
        if retention.inbox_days > 0:
            cutoff = now - retention.inbox_days * 86400
            gone = [k for k, r in self._inbox.items()
                    if r.item.at < cutoff and r.status not in (INBOX_NEW, INBOX_TURNED)]
            for k in gone:
                del self._inbox[k]
            counts["inbox"] = len(gone)
        return counts

    async def close(self) -> None:
        return None
