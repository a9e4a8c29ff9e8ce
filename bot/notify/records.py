"""What proactive messages remember: buyers' order watches and the outbox of messages to send.

`NotifyRecords` is the contract (a Protocol, every method async); every implementation passes
tests/test_notify_records_contract.py:
- `bot/notify/records_sqlite.py` (`SqliteNotifyRecords`): the default, in the conversation store's
  database file; every write is committed before the method returns (a killed process loses
  nothing acknowledged);
- `bot/notify/records_pg.py` (`PgNotifyRecords`): several processes on one PostgreSQL database
  (DATABASE_URL); a claimed message is its sender's for a lease;
- `bot/notify/records_memory.py` (`MemoryNotifyRecords`): tests and the terminal.

Exactly once per (posting, event) per buyer: a message is queued under a key that names the buyer
and the event (`enqueue` refuses a key it has seen, forever), so a repeated or replayed change
never queues a second message. A watch also remembers how far its posting has got (`last_rank`,
`last_at`): `advance` refuses a change older than what the buyer was told, so an older status
arriving late never moves the buyer backwards.

Times are UNIX seconds from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# Outbox statuses.
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
ERROR_LIMIT = 500  # characters of a message's last error that are kept


@dataclass(frozen=True, slots=True)
class Watch:
    chat_id: str
    posting_number: str
    order_number: str
    lang: str  # the buyer's language when they asked (their conversation's, when known, wins)
    since: float
    last_rank: int  # how far the posting had got in the last change told (see watching.rank); -1: none yet
    last_at: float  # when that change happened; 0: none yet


@dataclass(frozen=True, slots=True)
class Outbound:
    """One proactive message: a text (optionally HTML) with inline buttons, to a chat or a forum topic."""

    id: int
    key: str
    chat_id: int
    thread_id: int | None
    payload: dict[str, Any]  # {"text", "parse_mode"?, "buttons"?: [[[label, callback_data], ...], ...]}
    status: str
    attempts: int
    next_at: float
    error: str
    message_id: int | None
    created_at: float


class NotifyRecords(Protocol):
    async def close(self) -> None: ...

    # ---- watches ---------------------------------------------------------------------------------
    async def watch(self, chat_id: str, posting_number: str, order_number: str, lang: str, now: float) -> bool:
        """Start watching a posting for a buyer; False when they already watch it (nothing changes)."""
        ...

    async def unwatch(self, chat_id: str, posting_number: str | None = None) -> int:
        """End one watch, or all of the buyer's (None); how many ended."""
        ...

    async def watches(self, chat_id: str) -> list[Watch]:
        """The buyer's watches, oldest first."""
        ...

    async def watchers(self, posting_number: str) -> list[Watch]:
        """Everyone watching a posting, oldest first."""
        ...

    async def advance(self, chat_id: str, posting_number: str, rank: int, at: float) -> bool:
        """Record that the buyer is being told of a change at (`rank`, `at`). False (nothing recorded)
        when the watch is gone, or the change is older than one already told: a lower rank, or the same
        rank at an earlier moment. The same (rank, at) again is True (a replay: `enqueue` dedupes it)."""
        ...

    # ---- the outbox ------------------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: int, payload: dict[str, Any], now: float, *,
                      thread_id: int | None = None) -> int | None:
        """Queue a message due at `now`; None when `key` was ever queued before (never sent twice)."""
        ...

    async def due(self, now: float, limit: int = 100) -> list[Outbound]:
        """Pending messages whose `next_at` has come, by (next_at, id), at most `limit`."""
        ...

    async def claim(self, outbound_id: int) -> bool:
        """pending -> sending, counting an attempt; False when it was not pending."""
        ...

    async def mark_sent(self, outbound_id: int, message_id: int | None, now: float) -> None: ...

    async def mark_retry(self, outbound_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        """Back to pending, due at `next_at`; `count_attempt=False` gives the claimed attempt back
        (flood control is a wait, not a failure)."""
        ...

    async def postpone(self, outbound_id: int, next_at: float) -> None:
        """A pending message waits for its chat's pace: due again at `next_at` (no attempt counted)."""
        ...

    async def mark_failed(self, outbound_id: int, error: str) -> None: ...

    async def fail_pending(self, chat_id: int, error: str) -> int:
        """Every pending message to a chat fails (the buyer blocked the bot); how many."""
        ...

    async def recover(self) -> int:
        """After a restart (or when this process becomes the leader): messages caught mid-send go back
        to pending; how many. Several processes (PostgreSQL): only those whose sender's lease ran out."""
        ...

    async def release_expired(self) -> int:
        """While sending, now and then: messages whose sender died mid-send go back to pending; how
        many. One process (memory, SQLite): none ever (only a restart interrupts a send, and `recover`
        sees to it). Several processes (PostgreSQL): those whose claim's lease ran out."""
        ...

    async def outbound(self, key: str) -> Outbound | None: ...

    async def outbox(self, chat_id: int | None = None) -> list[Outbound]:
        """Every message (to one chat), in queue order."""
        ...

    async def last_sent(self, since: float, now: float) -> dict[int, float]:
        """Chat -> when its latest message was sent, for chats sent to at or after `since`; a message
        caught mid-send counts as sent at `now` (a restarted sender keeps each chat's pace)."""
        ...

    async def counts(self) -> dict[str, int]:
        """Messages per status: {"pending", "sending", "sent", "failed"}."""
        ...

    async def purge(self, before: float) -> int:
        """Forget sent and failed messages queued before `before` (retention); never a pending or
        sending one. Their keys go too: an event that old is not reported again. How many."""
        ...
