"""`NotifyRecords` in memory: tests and the terminal. Behaves as the SQLite one (the contract suite)."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from typing import Any

from bot.notify.records import ERROR_LIMIT, FAILED, PENDING, SENDING, SENT, Outbound, Watch


class MemoryNotifyRecords:
    def __init__(self) -> None:
        self._watches: dict[tuple[str, str], Watch] = {}
        self._out: dict[int, Outbound] = {}
        self._keys: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._sent_at: dict[int, float] = {}

    async def close(self) -> None:
        pass

    async def watch(self, chat_id: str, posting_number: str, order_number: str, lang: str, now: float) -> bool:
        if (chat_id, posting_number) in self._watches:
            return False
        self._watches[(chat_id, posting_number)] = Watch(chat_id, posting_number, order_number, lang, now, -1, 0.0)
        return True

    async def unwatch(self, chat_id: str, posting_number: str | None = None) -> int:
        gone = [k for k in self._watches if k[0] == chat_id and posting_number in (None, k[1])]
        for k in gone:
            del self._watches[k]
        return len(gone)

    async def watches(self, chat_id: str) -> list[Watch]:
        return [w for (c, _), w in self._watches.items() if c == chat_id]

    async def watchers(self, posting_number: str) -> list[Watch]:
        return [w for (_, p), w in self._watches.items() if p == posting_number]

    async def advance(self, chat_id: str, posting_number: str, rank: int, at: float) -> bool:
        w = self._watches.get((chat_id, posting_number))
        if w is None or not (w.last_rank < rank or (w.last_rank == rank and w.last_at <= at)):
            return False
        self._watches[(chat_id, posting_number)] = replace(w, last_rank=rank, last_at=max(w.last_at, at))
        return True

    async def enqueue(self, key: str, chat_id: int, payload: dict[str, Any], now: float, *,
                      thread_id: int | None = None) -> int | None:
        if key in self._keys:
            return None
        oid = next(self._ids)
        self._keys[key] = oid
        self._out[oid] = Outbound(oid, key, chat_id, thread_id, copy.deepcopy(payload), PENDING, 0, now, "", None, now)
        return oid

    async def due(self, now: float, limit: int = 100) -> list[Outbound]:
        ready = [o for o in self._out.values() if o.status == PENDING and o.next_at <= now]
        return sorted(ready, key=lambda o: (o.next_at, o.id))[:limit]

    def _set(self, oid: int, **changes: Any) -> None:
        self._out[oid] = replace(self._out[oid], **changes)

    async def claim(self, outbound_id: int) -> bool:
        o = self._out.get(outbound_id)
        if o is None or o.status != PENDING:
            return False
        self._set(outbound_id, status=SENDING, attempts=o.attempts + 1)
        return True

    async def mark_sent(self, outbound_id: int, message_id: int | None, now: float) -> None:
        if outbound_id in self._out:
            self._set(outbound_id, status=SENT, message_id=message_id, error="")
            self._sent_at[outbound_id] = now

    async def mark_retry(self, outbound_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        o = self._out.get(outbound_id)
        if o is None or o.status != SENDING:
            return
        self._set(outbound_id, status=PENDING, error=error[:ERROR_LIMIT], next_at=next_at,
                  attempts=o.attempts if count_attempt else max(0, o.attempts - 1))

    async def postpone(self, outbound_id: int, next_at: float) -> None:
        o = self._out.get(outbound_id)
        if o is not None and o.status == PENDING:
            self._set(outbound_id, next_at=next_at)

    async def mark_failed(self, outbound_id: int, error: str) -> None:
        if outbound_id in self._out:
            self._set(outbound_id, status=FAILED, error=error[:ERROR_LIMIT])

    async def fail_pending(self, chat_id: int, error: str) -> int:
        hit = [o.id for o in self._out.values() if o.chat_id == chat_id and o.status == PENDING]
        for oid in hit:
            self._set(oid, status=FAILED, error=error[:ERROR_LIMIT])
        return len(hit)

    async def recover(self) -> int:
        hit = [o.id for o in self._out.values() if o.status == SENDING]
        for oid in hit:
            self._set(oid, status=PENDING)
        return len(hit)

    async def release_expired(self) -> int:
        return 0  # one process: only a restart interrupts a send (recover)

    async def outbound(self, key: str) -> Outbound | None:
        oid = self._keys.get(key)
        return self._out.get(oid) if oid is not None else None

    async def outbox(self, chat_id: int | None = None) -> list[Outbound]:
        return [o for o in self._out.values() if chat_id is None or o.chat_id == chat_id]

    async def last_sent(self, since: float, now: float) -> dict[int, float]:
        out: dict[int, float] = {}
        for o in self._out.values():
            at = now if o.status == SENDING else self._sent_at.get(o.id) if o.status == SENT else None
            if at is not None and (at >= since or o.status == SENDING):
                out[o.chat_id] = max(at, out.get(o.chat_id, at))
        return out

    async def counts(self) -> dict[str, int]:
        out = dict.fromkeys((PENDING, SENDING, SENT, FAILED), 0)
        for o in self._out.values():
            out[o.status] += 1
        return out

    async def purge(self, before: float) -> int:
        gone = [o for o in self._out.values() if o.status in (SENT, FAILED) and o.created_at < before]
        for o in gone:
            del self._out[o.id]
            del self._keys[o.key]
            self._sent_at.pop(o.id, None)
        return len(gone)
