"""The handoff's records: topics, sessions, the relay outbox, notes, blocks, notices.

`HandoffRecords` is the contract (a Protocol, every method async); every implementation passes
tests/test_handoff_records_contract.py:
- `bot/handoff/records_sqlite.py` (`SqliteHandoffRecords`): the default, in the conversation
  store's database file (`settings.store_path`); every write is committed before the method
  returns, so a killed process loses nothing that was acknowledged;
- `bot/handoff/records_pg.py` (`PgHandoffRecords`): PostgreSQL (DATABASE_URL), for several bot
  processes; relays are claimed with a lease, so only a dead sender's are handed back;
- `bot/handoff/records_memory.py` (`MemoryHandoffRecords`): for tests and a local terminal agent.

Times are UNIX seconds taken from the handoff's clock (tests inject one); the records never read
the time themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# Session statuses. "open": waiting for or talking to an agent (the engine stays silent).
# An agent's /block ends the session with the status "blocked".
# Outcomes of a request to staff (notice).
DONE, DECLINED = "done", "declined"
OPEN, CLOSED, LEFT, RETURNED, BLOCKED = "open", "closed", "left", "returned", "blocked"
# Relay statuses.
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Relay directions.
TO_TOPIC, TO_BUYER, TO_GROUP = "to_topic", "to_buyer", "to_group"  # to_group: the General topic
# Relay ops: copy (copyMessage of the source), send (a text, optional buttons), edit / edit_caption.
COPY, SEND, EDIT, EDIT_CAPTION = "copy", "send", "edit", "edit_caption"

ERROR_LIMIT = 500  # characters of a relay's last error that are kept


@dataclass(frozen=True, slots=True)
class Topic:
    chat_id: str
    thread_id: int
    name: str
    buyer_name: str
    username: str
    lang: str
    order_number: str


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    chat_id: str
    flow_id: str
    node_id: str
    reason: str
    status: str
    started_at: float
    first_reply_at: float | None
    closed_at: float | None
    closed_by: str
    rating: int | None
    announced_at: float | None


@dataclass(frozen=True, slots=True)
class Relay:
    id: int
    key: str
    chat_id: str
    session_id: int | None
    direction: str
    op: str  # copy | send | edit | edit_caption
    src_chat: int | None
    src_message_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_at: float
    error: str
    dest_chat: int | None
    dest_message_id: int | None
    created_at: float


class HandoffRecords(Protocol):
    """Everything the handoff remembers. Ids are positive integers, increasing in creation order."""

    async def close(self) -> None: ...

    # ---- topics: one per buyer, found by the buyer's chat id or by the forum thread --------------
    async def topic(self, chat_id: str) -> Topic | None: ...

    async def topic_by_thread(self, thread_id: int) -> Topic | None: ...

    async def save_topic(self, topic: Topic, now: float, *, created: bool) -> None:
        """Insert or update the buyer's topic. A row of another buyer claiming the same thread is
        dropped (a recreated topic). `created`: also counted in the topic log (rate limits)."""
        ...

    async def topics_created_since(self, since: float, chat_id: str | None = None) -> int:
        """Topics created at or after `since` (by one buyer, or by all)."""
        ...

    # ---- sessions: one per handoff ---------------------------------------------------------------
    async def open_session(self, chat_id: str) -> Session | None: ...

    async def last_session(self, chat_id: str) -> Session | None: ...

    async def session(self, session_id: int) -> Session | None: ...

    async def session_count(self, chat_id: str) -> int: ...

    async def sessions(self, since: float = 0.0) -> list[Session]:
        """Sessions started at or after `since`, oldest first."""
        ...

    async def add_session(self, chat_id: str, flow_id: str, node_id: str, reason: str, now: float) -> int:
        """A new open session; its id."""
        ...

    async def queue_position(self, session_id: int) -> int:
        """1 + open sessions nobody has answered yet that started before this one."""
        ...

    async def unanswered(self) -> list[Session]:
        """Open sessions without a first reply, oldest first."""
        ...

    async def mark_first_reply(self, session_id: int, now: float) -> bool:
        """True only the first time (the agents' first answer)."""
        ...

    async def mark_announced(self, session_id: int, now: float) -> None: ...

    async def end_session(self, session_id: int, status: str, now: float, by: str = "") -> bool:
        """Close an open session with `status` (closed, left, returned, blocked); False when not open."""
        ...

    async def rate(self, session_id: int, chat_id: str, rating: int) -> bool:
        """Record the buyer's rating of an ended session of theirs, once."""
        ...

    # ---- relays: the outbox ----------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: str, direction: str, op: str, payload: dict[str, Any], now: float, *,
                      session_id: int | None = None, src_chat: int | None = None,
                      src_message_id: int | None = None) -> int | None:
        """Add a pending relay due at `now`; None when `key` was already recorded (a duplicate
        update: never sent twice)."""
        ...

    async def due(self, now: float | None, chat_id: str | None = None) -> list[Relay]:
        """Pending relays whose `next_at` has come, in order; `now=None` ignores back-off (start-up)."""
        ...

    async def earlier_unsent(self, relay: Relay) -> bool:
        """Is an older relay to the same place (chat and direction) still pending or sending?"""
        ...

    async def claim(self, relay_id: int) -> bool:
        """pending -> sending, counting an attempt; False when it was not pending."""
        ...

    async def mark_sent(self, relay_id: int, dest_chat: int, dest_message_id: int | None, now: float) -> None: ...

    async def mark_retry(self, relay_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        """Back to pending, due again at `next_at`. `count_attempt=False`: a wait that was not a
        failure (flood control, an edit waiting for its original) gives the claimed attempt back."""
        ...

    async def mark_failed(self, relay_id: int, error: str) -> None: ...

    async def recover(self) -> int:
        """After a restart: relays caught mid-send go back to pending (at-least-once for that one
        call); how many."""
        ...

    async def release_expired(self) -> int:
        """While running, now and then: relays whose sender died mid-send go back to pending; how
        many. One process (memory, SQLite): none ever (only a restart interrupts a send, and
        `recover` sees to it). Several processes (PostgreSQL): those whose claim's lease ran out."""
        ...

    async def relay(self, key: str) -> Relay | None: ...

    async def relay_by_copy(self, dest_chat: int, dest_message_id: int) -> Relay | None:
        """The relay whose copy is this message (to carry replies across)."""
        ...

    async def relays(self, chat_id: str | None = None) -> list[Relay]: ...

    # ---- notes, blocks, notices ------------------------------------------------------------------
    async def add_note(self, chat_id: str, session_id: int | None, author_id: int, author: str, text: str,
                       now: float) -> int: ...

    async def notes(self, chat_id: str) -> list[dict[str, Any]]:
        """[{id, author, text, at}], oldest first."""
        ...

    async def block(self, chat_id: str, by: str, now: float) -> None: ...

    async def unblock(self, chat_id: str) -> bool: ...

    async def is_blocked(self, chat_id: str) -> bool: ...

    async def add_notice(self, chat_id: str, action: str, args: dict[str, Any], now: float) -> int: ...

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        """{id, chat_id, action, args, message_id, seen_by, seen_at, outcome, outcome_reason, outcome_by,
        outcome_at}; outcome is None until an agent presses "Done" or "Declined"."""
        ...

    async def mark_seen(self, notice_id: int, by: str, now: float) -> bool:
        """True only for the first agent who marks it seen."""
        ...

    async def set_outcome(self, notice_id: int, outcome: str, reason: str, by: str, now: float) -> bool:
        """Record a request's outcome (DONE or DECLINED with a reason code). True only the first
        time: an outcome is final, so the buyer is told once."""
        ...

    async def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every notice created at or after `since`, oldest first, as `notice()` gives them plus `at`."""
        ...

    # ---- retention -------------------------------------------------------------------------------
    async def purge(self, before: float) -> dict[str, int]:
        """Delete what is older than `before`: sent and failed relays (by creation time), notes,
        notices and topic-log rows. Never a session, an open session's relays or notes, nor a relay
        still pending or sending; the newest relay, note and notice always stay, so ids never repeat
        (they end up in relay keys). One transaction. Returns the count deleted per kind:
        {"relays", "notes", "notices", "topic_log"}."""
        ...
