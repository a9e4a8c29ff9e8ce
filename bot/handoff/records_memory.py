"""Handoff records in memory (`MemoryHandoffRecords`), for tests and a local terminal agent.

Behaves as `SqliteHandoffRecords` does (tests/test_handoff_records_contract.py runs both): ids from
1 in creation order, payloads and arguments handed back as fresh copies (through JSON, as SQLite
stores them), errors cut to `ERROR_LIMIT`. Nothing survives the process.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.handoff.records import ERROR_LIMIT, FAILED, OPEN, PENDING, SENDING, SENT, Relay, Session, Topic


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


class MemoryHandoffRecords:
    """`HandoffRecords` in dictionaries."""

    def __init__(self) -> None:
        self._topics: dict[str, Topic] = {}
        self._topic_log: list[tuple[str, int, float]] = []  # (chat_id, thread_id, at)
        self._sessions: dict[int, Session] = {}
        self._relays: dict[int, Relay] = {}  # with an empty payload: the payload is kept as JSON in _payloads
        self._payloads: dict[int, str] = {}
        self._relay_keys: dict[str, int] = {}
        self._notes: dict[int, dict[str, Any]] = {}
        self._blocked: dict[str, tuple[str, float]] = {}
        self._notices: dict[int, dict[str, Any]] = {}
        self._next = {"session": 0, "relay": 0, "note": 0, "notice": 0}

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    async def close(self) -> None:
        pass

    # ---- topics ---------------------------------------------------------------------------------
    async def topic(self, chat_id: str) -> Topic | None:
        return self._topics.get(chat_id)

    async def topic_by_thread(self, thread_id: int) -> Topic | None:
        return next((t for t in self._topics.values() if t.thread_id == thread_id), None)

    async def save_topic(self, topic: Topic, now: float, *, created: bool) -> None:
        same_thread = [t for t in self._topics.values() if t.thread_id == topic.thread_id]
        for other in [t for t in same_thread if t.chat_id != topic.chat_id]:
            del self._topics[other.chat_id]
        self._topics[topic.chat_id] = topic
        if created:
            self._topic_log.append((topic.chat_id, topic.thread_id, now))

    async def topics_created_since(self, since: float, chat_id: str | None = None) -> int:
        return sum(1 for c, _, at in self._topic_log if at >= since and (chat_id is None or c == chat_id))

    # ---- sessions -------------------------------------------------------------------------------
    async def open_session(self, chat_id: str) -> Session | None:
        return next((s for s in reversed(self._sessions.values()) if s.chat_id == chat_id and s.status == OPEN), None)

    async def last_session(self, chat_id: str) -> Session | None:
        return next((s for s in reversed(self._sessions.values()) if s.chat_id == chat_id), None)

    async def session(self, session_id: int) -> Session | None:
        return self._sessions.get(session_id)

    async def session_count(self, chat_id: str) -> int:
        return sum(1 for s in self._sessions.values() if s.chat_id == chat_id)

    async def sessions(self, since: float = 0.0) -> list[Session]:
        return [s for s in self._sessions.values() if s.started_at >= since]

    async def add_session(self, chat_id: str, flow_id: str, node_id: str, reason: str, now: float) -> int:
        sid = self._id("session")
        self._sessions[sid] = Session(sid, chat_id, flow_id, node_id, reason, OPEN, now, None, None, "", None, None)
        return sid

    def _unanswered(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.status == OPEN and s.first_reply_at is None]

    async def queue_position(self, session_id: int) -> int:
        return 1 + sum(1 for s in self._unanswered() if s.id < session_id)

    async def unanswered(self) -> list[Session]:
        return self._unanswered()

    def _update_session(self, session_id: int, **changes: Any) -> None:
        self._sessions[session_id] = dataclasses.replace(self._sessions[session_id], **changes)

    async def mark_first_reply(self, session_id: int, now: float) -> bool:
        s = self._sessions.get(session_id)
        if s is None or s.first_reply_at is not None:
            return False
        self._update_session(session_id, first_reply_at=now)
        return True

    async def mark_announced(self, session_id: int, now: float) -> None:
        if session_id in self._sessions:
            self._update_session(session_id, announced_at=now)

    async def end_session(self, session_id: int, status: str, now: float, by: str = "") -> bool:
        s = self._sessions.get(session_id)
        if s is None or s.status != OPEN:
            return False
        self._update_session(session_id, status=status, closed_at=now, closed_by=by)
        return True

    async def rate(self, session_id: int, chat_id: str, rating: int) -> bool:
        s = self._sessions.get(session_id)
        if s is None or s.chat_id != chat_id or s.status == OPEN or s.rating is not None:
            return False
        self._update_session(session_id, rating=rating)
        return True

    # ---- relays (the outbox) --------------------------------------------------------------------
    def _out(self, relay: Relay) -> Relay:
        """A copy the caller may change freely (its payload comes fresh from JSON)."""
        return dataclasses.replace(relay, payload=json.loads(self._payloads[relay.id]))

    def _update_relay(self, relay_id: int, **changes: Any) -> None:
        if relay_id in self._relays:
            self._relays[relay_id] = dataclasses.replace(self._relays[relay_id], **changes)

    async def enqueue(self, key: str, chat_id: str, direction: str, op: str, payload: dict[str, Any], now: float, *,
                      session_id: int | None = None, src_chat: int | None = None,
                      src_message_id: int | None = None) -> int | None:
        if key in self._relay_keys:
            return None
        rid = self._id("relay")
        self._relays[rid] = Relay(rid, key, chat_id, session_id, direction, op, src_chat, src_message_id,
                                  {}, PENDING, 0, now, "", None, None, now)
        self._payloads[rid] = _json(payload)
        self._relay_keys[key] = rid
        return rid

    async def due(self, now: float | None, chat_id: str | None = None) -> list[Relay]:
        return [self._out(r) for r in self._relays.values()
                if r.status == PENDING and (now is None or r.next_at <= now)
                and (chat_id is None or r.chat_id == chat_id)]

    async def earlier_unsent(self, relay: Relay) -> bool:
        return any(r.chat_id == relay.chat_id and r.direction == relay.direction and r.id < relay.id
                   and r.status in (PENDING, SENDING) for r in self._relays.values())

    async def claim(self, relay_id: int) -> bool:
        r = self._relays.get(relay_id)
        if r is None or r.status != PENDING:
            return False
        self._update_relay(relay_id, status=SENDING, attempts=r.attempts + 1)
        return True

    async def mark_sent(self, relay_id: int, dest_chat: int, dest_message_id: int | None, now: float) -> None:
        self._update_relay(relay_id, status=SENT, dest_chat=dest_chat, dest_message_id=dest_message_id, error="")

    async def mark_retry(self, relay_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        r = self._relays.get(relay_id)
        if r is None:
            return
        attempts = r.attempts if count_attempt else max(0, r.attempts - 1)
        self._update_relay(relay_id, status=PENDING, error=error[:ERROR_LIMIT], next_at=next_at, attempts=attempts)

    async def mark_failed(self, relay_id: int, error: str) -> None:
        self._update_relay(relay_id, status=FAILED, error=error[:ERROR_LIMIT])

    async def recover(self) -> int:
        caught = [r.id for r in self._relays.values() if r.status == SENDING]
        for rid in caught:
            self._update_relay(rid, status=PENDING)
        return len(caught)

    async def release_expired(self) -> int:
        return 0  # one process: a send is interrupted only by a restart (recover)

    async def relay(self, key: str) -> Relay | None:
        rid = self._relay_keys.get(key)
        return self._out(self._relays[rid]) if rid is not None else None

    async def relay_by_copy(self, dest_chat: int, dest_message_id: int) -> Relay | None:
        return next((self._out(r) for r in self._relays.values()
                     if r.dest_chat == dest_chat and r.dest_message_id == dest_message_id), None)

    async def relays(self, chat_id: str | None = None) -> list[Relay]:
        return [self._out(r) for r in self._relays.values() if chat_id is None or r.chat_id == chat_id]

    # ---- notes, blocks, notices -----------------------------------------------------------------
    async def add_note(self, chat_id: str, session_id: int | None, author_id: int, author: str, text: str,
                       now: float) -> int:
        nid = self._id("note")
        self._notes[nid] = {"id": nid, "chat_id": chat_id, "session_id": session_id, "author_id": author_id,
                            "author": author, "text": text, "at": now}
        return nid

    async def notes(self, chat_id: str) -> list[dict[str, Any]]:
        return [{k: n[k] for k in ("id", "author", "text", "at")}
                for n in self._notes.values() if n["chat_id"] == chat_id]

    async def block(self, chat_id: str, by: str, now: float) -> None:
        self._blocked[chat_id] = (by, now)

    async def unblock(self, chat_id: str) -> bool:
        return self._blocked.pop(chat_id, None) is not None

    async def is_blocked(self, chat_id: str) -> bool:
        return chat_id in self._blocked

    async def add_notice(self, chat_id: str, action: str, args: dict[str, Any], now: float) -> int:
        nid = self._id("notice")
        self._notices[nid] = {"id": nid, "chat_id": chat_id, "action": action, "args": _json(args),
                              "message_id": None, "seen_by": None, "seen_at": None, "at": now,
                              "outcome": None, "outcome_reason": None, "outcome_by": None, "outcome_at": None}
        return nid

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        n = self._notices.get(notice_id)
        if n is None:
            return None
        out = {k: n[k] for k in ("id", "chat_id", "action", "message_id", "seen_by", "seen_at", "outcome",
                                 "outcome_reason", "outcome_by", "outcome_at")}
        out["args"] = json.loads(n["args"])
        return out

    async def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        out = []
        for nid in sorted(self._notices):
            if self._notices[nid]["at"] >= since:
                out.append({**(await self.notice(nid) or {}), "at": self._notices[nid]["at"]})
        return out

    async def set_outcome(self, notice_id: int, outcome: str, reason: str, by: str, now: float) -> bool:
        n = self._notices.get(notice_id)
        if n is None or n["outcome"] is not None:
            return False
        n["outcome"], n["outcome_reason"], n["outcome_by"], n["outcome_at"] = outcome, reason, by, now
        return True

    async def mark_seen(self, notice_id: int, by: str, now: float) -> bool:
        n = self._notices.get(notice_id)
        if n is None or n["seen_at"] is not None:
            return False
        n["seen_by"], n["seen_at"] = by, now
        return True

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, before: float) -> dict[str, int]:
        live = {s.id for s in self._sessions.values() if s.status == OPEN}
        newest = self._next  # the newest row of each kind stays (the contract: as SQLite must)
        relays = [r for r in self._relays.values() if r.status in (SENT, FAILED) and r.created_at < before
                  and r.session_id not in live and r.id != newest["relay"]]
        for r in relays:
            del self._relays[r.id], self._payloads[r.id], self._relay_keys[r.key]
        notes = [i for i, n in self._notes.items()
                 if n["at"] < before and n["session_id"] not in live and i != newest["note"]]
        for i in notes:
            del self._notes[i]
        notices = [i for i, n in self._notices.items() if n["at"] < before and i != newest["notice"]]
        for i in notices:
            del self._notices[i]
        kept_log = [e for e in self._topic_log if e[2] >= before]
        topic_log, self._topic_log = len(self._topic_log) - len(kept_log), kept_log
        return {"relays": len(relays), "notes": len(notes), "notices": len(notices), "topic_log": topic_log}
