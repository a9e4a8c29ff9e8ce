"""The store contract. Every backend passes tests/test_store_contract.py."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.engine.lookup import OwnerRecord
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


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A raw incoming update, stored before it is confirmed to its channel."""

    key: str  # channel-prefixed and unique, e.g. "tg:12345" (Telegram's update_id)
    chat_id: str
    payload: str  # the raw update as JSON text
    at: float


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """An inbox row without an outcome yet: start-up handles these, in arrival order, once."""

    key: str
    chat_id: str
    payload: str
    at: float
    status: str  # "new": not handled yet; "turned": its turn is saved (replies may be undelivered)
    reply_ids: list[int]  # "turned": the ids of the replies the turn saved (see messages_by_id)
    followups: list[dict[str, Any]]  # "turned": what the turn left to do after its replies


INBOX_NEW, INBOX_TURNED = "new", "turned"  # statuses of an unfinished row; any other is an outcome
INBOX_BUSY = "busy"  # SharedInbox.inbox_claim: another process holds the row


def check_outcome(outcome: str) -> str:
    if not outcome or outcome in (INBOX_NEW, INBOX_TURNED):
        raise ValueError(f"an inbox outcome cannot be {outcome!r}: it says how the update ended (done, dropped, ...)")
    return outcome


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def no_turn_lock(chat_id: str) -> AbstractAsyncContextManager[None]:
    """`ConversationStore.turn` of a backend used by one process only (one shared object: no cost)."""
    return _NO_LOCK


@dataclass(frozen=True, slots=True)
class Retention:
    """How many days each kind of record is kept; 0 keeps it forever."""

    transcript_days: float = 180
    analytics_days: float = 365
    actions_days: float = 365
    inbox_days: float = 7  # finished inbox rows only

    @classmethod
    def from_settings(cls, settings: Any) -> Retention:
        return cls(settings.retention_transcript_days, settings.retention_analytics_days,
                   settings.retention_actions_days, settings.retention_inbox_days)


PURGED_TABLES = ("messages", "turn_events", "actions", "inbox")  # the keys of purge()'s answer
# A big purge deletes PURGE_BATCH rows per transaction (~13 ms of messages, measured) and pauses
# between batches, so turns keep flowing and the background WAL checkpoints keep up (unpaced, the
# writer's own checkpoint fired inside a commit: ~100 ms stalls).
PURGE_BATCH = 2000
PURGE_PAUSE = 0.05  # seconds between batches


class ConversationStore(Protocol):
    def turn(self, chat_id: str) -> AbstractAsyncContextManager[None]:
        """Around a whole turn (App.handle: load the state, run the engine, save the turn): the
        chat's turns never overlap, in any process sharing the store. The embedded backends run in
        one process, where the Telegram adapter already orders each chat's updates: for them it is
        `no_turn_lock`. PostgreSQL: one transaction under the chat's advisory lock."""
        ...

    async def load_state(self, chat_id: str) -> ConversationState | None: ...

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None, *,
                           receipt: str | None = None, outcome: str | None = None) -> int:
        """Record a buyer message that gets no engine turn (relayed, refused...); durable when this returns.

        With `receipt` and `outcome`, the same transaction gives that inbox row its outcome; when the
        row already has one (the update is replayed after a crash), nothing is recorded and 0 returned."""
        ...

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        """Record what a human agent sent the buyer, so the transcript holds the whole conversation."""
        ...

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]], *, receipt: str | None = None,
                        followups: list[dict[str, Any]] | None = None,
                        incoming: tuple[str, str] | None = None) -> list[int]:
        """Atomically save the buyer's message (`incoming`: kind, text), the new state, the replies
        (ids returned, in order) and the analytics.

        With `receipt` (an inbox key), the same transaction marks that inbox row "turned", with the
        reply ids and `followups`: a crash never leaves a turn saved and its update unhandled, or
        the reverse. A receipt whose row is missing or no longer "new" changes nothing.

        The store may keep `state` and `events` themselves (no copy): the caller hands them over and
        does not change them afterwards (App.handle never does). `load_state` always returns the caller's own copy."""
        ...

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None: ...

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]: ...

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int: ...

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]: ...

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]: ...

    async def count_conversations(self) -> int: ...

    async def messages_by_id(self, ids: list[int]) -> list[TranscriptEntry]:
        """The transcript entries with these ids, in the order asked (unknown ids are left out)."""
        ...

    # ---- inbox of raw incoming updates ---------------------------------------------------------
    async def inbox_add(self, items: list[InboxItem]) -> list[str]:
        """Store the items not seen before, in one transaction, durable when this returns; the keys
        that were new, in order. A repeated key is dropped (the stored row is not overwritten)."""
        ...

    async def inbox_finish(self, key: str, outcome: str = "done") -> None:
        """Give an inbox row its outcome ("done", "relayed", "dropped", ...); durable when this returns.
        An outcome is final: a row that has one keeps it."""
        ...

    async def inbox_status(self, key: str) -> str | None:
        """"new", "turned", the outcome, or None for a key never stored (or purged)."""
        ...

    async def inbox_pending(self) -> list[PendingUpdate]:
        """The rows without an outcome, in arrival order."""
        ...

    # ---- ownership (the engine's OwnerLedger port; never purged) ---------------------------------
    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        """What is known of `buyer` proving `order`: locked, their wrong answers for it, the order's
        wrong answers across all buyers, and the buyer's wrong answers for any order since `since`."""
        ...

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        """Record one wrong answer in one transaction; lock the buyer out of the order once their
        wrong answers for it reach `lock_after` (a lock is never lifted). The record after it."""
        ...

    async def owner_reopen(self, order: str) -> int:
        """An agent checked who owns `order`: forget its wrong answers and lift its locks, for every
        buyer (the order was closed by guessing). The number of rows removed; durable on return."""
        ...

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        """Bind a signed link to the first buyer who opens it (atomically); the buyer it is bound to."""
        ...

    # ---- retention -----------------------------------------------------------------------------
    async def purge(self, now: float, retention: Retention) -> dict[str, int]:
        """Delete what `retention` no longer keeps (older than its days before `now`), in batches
        (PURGE_BATCH rows, PURGE_PAUSE apart); rows deleted per table (every key of PURGED_TABLES).
        Never a conversation's state, never an inbox row without an outcome."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class SharedInbox(Protocol):
    """What a store shared by several processes offers on top of `ConversationStore` (PgStore): a
    stored update is made one process's to handle for `lease` seconds. `inbox_claim` answers its
    status ("new" or "turned") when claimed, its outcome when it has one, INBOX_BUSY while another
    process's lease runs; `inbox_release` gives it back (an unfinished one at once to the next)."""

    async def inbox_claim(self, key: str, lease: float) -> str: ...

    async def inbox_store_claim(self, item: InboxItem, lease: float) -> str: ...

    async def inbox_release(self, key: str) -> None: ...

    async def inbox_status(self, key: str) -> str | None: ...


def shared_inbox(store: object) -> SharedInbox | None:
    """The store as a SharedInbox when it is shared by several processes, else None."""
    return store if isinstance(store, SharedInbox) else None
