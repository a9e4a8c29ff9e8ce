"""PostgreSQL store (asyncpg), for several bot processes on one database: the same contract as
the SQLite store (tests/test_store_contract.py runs both), every write committed before it returns.

A turn across processes: `turn(chat_id)` opens one transaction on one connection and takes the
chat's transaction-level advisory lock (`pg_advisory_xact_lock`); every store call made inside it
(from the same task or those it starts) joins that transaction, so the state read, the ownership
ledger, the actions and the saved turn commit together or not at all, and a second process handling
the same chat waits for the lock and then reads the new state. `save_turn` inside a turn also checks
the conversation row's revision (`rev`, one more at every write): a write that bypassed the lock
fails the turn with `StaleTurn` instead of being overwritten. A turn costs four round trips: BEGIN
with the lock, the state read, the whole save in one statement, COMMIT.

Several processes behind one webhook (bot/telegram/shared.py) also claim each stored update with a
lease (`inbox_store_claim`, `inbox_claim`, `inbox_release`): while a process holds it, no other
handles it, and its status is answered from memory; the delivery mark of its turn's last reply is
written with its outcome (`inbox_finish`, or `inbox_release` if it never gets one). A webhook update
costs the turn's four round trips and a share of two: the store-and-claims of updates arriving
together go in one statement, their outcomes (with the marks) in another (bot/store/pg_batch.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from pydantic_core import to_json

from bot.engine.lookup import OwnerRecord
from bot.engine.state import ConversationState
from bot.store.base import (
    INBOX_BUSY,
    INBOX_NEW,
    INBOX_TURNED,
    PURGE_BATCH,
    PURGE_PAUSE,
    PURGED_TABLES,
    AnalyticsEvent,
    InboxItem,
    Outgoing,
    PendingUpdate,
    Retention,
    TranscriptEntry,
    check_outcome,
)
from bot.store.pg_batch import Batcher
from bot.store.pg_pool import LazyPool, chat_lock_key

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record]"


def _count(status: str) -> int:
    """Rows changed, from asyncpg's command status ("UPDATE 1")."""
    return int(status.rsplit(" ", 1)[-1])


class StaleTurn(RuntimeError):
    """The conversation changed between the turn's read and its write (its revision moved on)."""


def _json(value: Any) -> str:
    return to_json(value, fallback=str).decode()


@dataclass(slots=True)
class _Turn:
    conn: Conn
    chat_id: str
    rev: int | None = None  # the revision load_state read (None: no row yet)
    read: bool = False


_MESSAGE_COLS = "id, chat_id, direction, kind, text, meta, at, delivered, error"


def _entry(row: asyncpg.Record) -> TranscriptEntry:
    id_, chat, direction, kind, text, meta, at, delivered, error = row
    meta_d = json.loads(meta or "{}")
    if error:
        meta_d["error"] = error
    return TranscriptEntry(id_, chat, direction, kind, text, meta_d, at, delivered)


async def _owner_record(c: Conn, order: str, buyer: str, since: float) -> OwnerRecord:
    row = await c.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM owner_locks WHERE order_number=$1 AND buyer=$2), "
        "(SELECT count(*) FILTER (WHERE buyer=$2) FROM owner_wrong WHERE order_number=$1), "
        "(SELECT count(*) FROM owner_wrong WHERE order_number=$1), "
        "(SELECT count(DISTINCT buyer) FROM owner_wrong WHERE order_number=$1), "
        "(SELECT count(*) FROM owner_wrong WHERE buyer=$2 AND at>=$3)", order, buyer, since)
    assert row is not None  # a SELECT without FROM always gives one row
    return OwnerRecord(bool(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


# save_turn in one statement (one round trip): the buyer's message and the replies in one INSERT, in
# order (their ids rise in row order: the transcript's order), the state, the analytics, the inbox row.
# $1 chat, $2 at, $3-$6 messages (direction, kind, text, meta), $7 events, $8 followups, $9 receipt,
# $10 state, $11 the revision read (a checked update).
_SAVE = """
WITH msgs AS (
  INSERT INTO messages (chat_id, direction, kind, text, meta, at)
  SELECT $1, d, k, t, m, $2
  FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(d, k, t, m, o)
  ORDER BY o RETURNING id, direction),
st AS ({state}),
ev AS (INSERT INTO turn_events (chat_id, events, at) SELECT $1, $7::text, $2 WHERE $7::text IS NOT NULL RETURNING 1),
inb AS (UPDATE inbox SET status='turned', followups=$8,
          replies=(SELECT coalesce(json_agg(id ORDER BY id), '[]')::text FROM msgs WHERE direction='out')
        WHERE key=$9 AND status='new' RETURNING 1)
SELECT (SELECT rev FROM st) AS rev, ARRAY(SELECT id FROM msgs WHERE direction='out' ORDER BY id) AS ids,
       (SELECT count(*) FROM inb) AS turned, (SELECT count(*) FROM ev) AS evs,
       EXISTS (SELECT 1 FROM inbox WHERE key=$9) AS known
"""
_SAVE_UPSERT = _SAVE.format(state=(
    "INSERT INTO conversations (chat_id, state, updated_at, rev) VALUES ($1, $10, $2, 1) ON CONFLICT (chat_id) "
    "DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at, rev=conversations.rev+1 RETURNING rev"))
_SAVE_FIRST = _SAVE.format(state=(
    "INSERT INTO conversations (chat_id, state, updated_at, rev) VALUES ($1, $10, $2, 1) "
    "ON CONFLICT (chat_id) DO NOTHING RETURNING rev"))
_SAVE_NEXT = _SAVE.format(state=(
    "UPDATE conversations SET state=$10, updated_at=$2, rev=rev+1 WHERE chat_id=$1 AND rev=$11 RETURNING rev"))


# inbox_store_claim of many updates: stored, or claimed when nobody holds them; the rows claimed
_CLAIM_MANY = """
INSERT INTO inbox (key, chat_id, payload, at, lease_until)
SELECT k, c, p, a, extract(epoch FROM statement_timestamp()) + l
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[]) AS u(k, c, p, a, l)
ON CONFLICT (key) DO UPDATE SET lease_until=excluded.lease_until
WHERE inbox.status IN ('new', 'turned') AND (inbox.lease_until IS NULL OR
      inbox.lease_until < extract(epoch FROM statement_timestamp()))
RETURNING key, status
"""
# inbox_finish of many updates (keys unique), with the deferred delivery mark of each one's last reply
_FINISH_MANY = """
WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::bool[], $6::text[])
           AS u(key, outcome, at, mark_id, delivered, error)),
m AS (UPDATE messages SET delivered=f.delivered, error=f.error FROM f
      WHERE f.mark_id IS NOT NULL AND messages.id=f.mark_id)
UPDATE inbox SET status=f.outcome, finished_at=f.at FROM f WHERE inbox.key=f.key AND inbox.status IN ('new', 'turned')
"""

# an outcome to record: key, outcome, when, and the deferred mark of its last reply (delivered, error, id)
_Finish: TypeAlias = tuple[str, str, float, tuple[bool, str, int] | None]


def _finish_args(rows: list[_Finish]) -> list[list[Any]]:
    """_FINISH_MANY's parameters (one array per column) for outcomes of distinct keys."""
    return [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3][2] if r[3] else None for r in rows],
            [r[3][0] if r[3] else None for r in rows], [r[3][1] if r[3] else None for r in rows]]


class PgStore:
    """`ConversationStore` on PostgreSQL; `url` is DATABASE_URL."""

    def __init__(self, url: str, *, pool_size: int = 10, pool: LazyPool | None = None) -> None:
        self._pool = pool or LazyPool(url, max_size=pool_size)
        # inbox rows this process holds (claimed, not yet released) -> their status; "" when a turn
        # may have changed it (read again); see inbox_claim
        self._held: dict[str, str] = {}
        # a held update's turn without follow-ups -> its last reply's id, and that reply's delivery
        # mark once made; the mark is written with the update's outcome (inbox_finish, which follows
        # it with no send in between) or at inbox_release: one round trip fewer per update
        self._last_reply: dict[str, int] = {}
        self._marks: dict[int, tuple[str, bool, str]] = {}
        self._claims: Batcher[tuple[InboxItem, float], str] = Batcher(self._claim_many)
        self._finishes: Batcher[_Finish, None] = Batcher(self._finish_many)
        # the turn running in this task (and those it starts), for this store only
        self._turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar(f"pg_turn_{id(self)}", default=None)

    @asynccontextmanager
    async def _conn(self, *, tx: bool = False) -> AsyncIterator[Conn]:
        """The running turn's connection (inside its transaction), else one from the pool: in a
        transaction of its own with `tx`, autocommit otherwise."""
        turn = self._turn.get()
        if turn is not None:
            yield turn.conn
            return
        pool = await self._pool.get()
        async with pool.acquire() as conn:
            if not tx:
                yield conn
                return
            async with conn.transaction():
                yield conn

    def _tx(self) -> AbstractAsyncContextManager[Conn]:
        return self._conn(tx=True)

    @asynccontextmanager
    async def turn(self, chat_id: str) -> AsyncIterator[None]:
        """One transaction under the chat's advisory lock for a whole turn (see the module's doc)."""
        if self._turn.get() is not None:  # nested: already inside a turn of this task
            yield
            return
        pool = await self._pool.get()
        async with pool.acquire() as conn:
            # BEGIN and the lock in one round trip; the turn's reads come after it, in statements of
            # their own (READ COMMITTED: each sees what was committed before it started, so after the
            # lock, never a snapshot taken while waiting for it)
            await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({chat_lock_key(chat_id)})")
            token = self._turn.set(_Turn(conn, chat_id))
            try:
                yield
            except BaseException:
                if not conn.is_closed():
                    await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")
            finally:
                self._turn.reset(token)

    # ---- state and transcript -----------------------------------------------------------------
    async def load_state(self, chat_id: str) -> ConversationState | None:
        turn = self._turn.get()
        async with self._conn() as c:
            row = await c.fetchrow("SELECT state, rev FROM conversations WHERE chat_id=$1", chat_id)
        if turn is not None and turn.chat_id == chat_id:
            turn.rev, turn.read = (row[1] if row else None), True
        return ConversationState.from_json(row[0]) if row else None

    async def add_incoming(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None, *,
                           receipt: str | None = None, outcome: str | None = None) -> int:
        now = time.time()
        finish = check_outcome(outcome) if receipt is not None and outcome is not None else None
        if receipt is not None and receipt in self._held:
            self._held[receipt] = ""  # has its outcome once this commits: read it again until then
        async with self._tx() as c:
            if finish is not None:
                changed = await c.fetchval(
                    "WITH u AS (UPDATE inbox SET status=$1, finished_at=$2 WHERE key=$3 "
                    "AND status IN ('new', 'turned') RETURNING 1) SELECT count(*) FROM u", finish, now, receipt)
                if not changed and await c.fetchval("SELECT 1 FROM inbox WHERE key=$1", receipt):
                    return 0  # already has its outcome: a replay records nothing twice
            return int(await c.fetchval(
                "INSERT INTO messages (chat_id, direction, kind, text, meta, at) VALUES ($1, 'in', $2, $3, $4, $5) "
                "RETURNING id", chat_id, kind, text, _json(meta or {}), now))

    async def add_agent_message(self, chat_id: str, kind: str, text: str, meta: dict[str, Any] | None = None) -> int:
        async with self._conn() as c:
            return int(await c.fetchval(
                "INSERT INTO messages (chat_id, direction, kind, text, meta, at) "
                "VALUES ($1, 'agent', $2, $3, $4, $5) RETURNING id", chat_id, kind, text, _json(meta or {}),
                time.time()))

    async def save_turn(self, chat_id: str, state: ConversationState, outgoing: list[Outgoing],
                        events: list[tuple[str, dict[str, Any]]], *, receipt: str | None = None,
                        followups: list[dict[str, Any]] | None = None,
                        incoming: tuple[str, str] | None = None) -> list[int]:
        turn = self._turn.get()
        checked = turn is not None and turn.chat_id == chat_id and turn.read
        rows = ([("in", incoming[0], incoming[1], "{}")] if incoming is not None else []) + \
            [("out", o.kind, o.text, _json(o.meta)) for o in outgoing]
        args: list[Any] = [chat_id, time.time(), [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                           [r[3] for r in rows], _json(events) if events else None,
                           _json(followups) if followups else "[]", receipt, state.to_json()]
        if not checked:
            sql = _SAVE_UPSERT
        elif turn is not None and turn.rev is None:
            sql = _SAVE_FIRST
        else:
            sql, args = _SAVE_NEXT, [*args, turn.rev if turn is not None else 0]
        if receipt is not None and receipt in self._held:
            self._held[receipt] = ""  # turned once the turn commits: read it again until then
        async with self._tx() as c:
            row = await c.fetchrow(sql, *args)
            assert row is not None  # a SELECT without FROM always gives one row
            if checked and turn is not None:
                if row["rev"] is None:
                    raise StaleTurn(f"conversation {chat_id} changed during the turn (read at revision {turn.rev})")
                turn.rev = row["rev"]
                if receipt is not None and not row["turned"] and row["known"]:
                    # another process ran this update's turn (its lease ran out meanwhile): never twice
                    raise StaleTurn(f"update {receipt} was turned by another process")
        ids = list(row["ids"])
        if receipt is not None and receipt in self._held and ids and not followups:
            self._last_reply[receipt] = ids[-1]
        return ids

    async def mark_delivery(self, message_id: int, delivered: bool, error: str = "") -> None:
        for key, last in self._last_reply.items():
            if last == message_id and self._turn.get() is None:  # written by inbox_finish / inbox_release
                self._marks[message_id] = (key, delivered, error)
                return
        async with self._conn() as c:
            await c.execute("UPDATE messages SET delivered=$1, error=$2 WHERE id=$3", delivered, error, message_id)

    async def transcript(self, chat_id: str, limit: int = 500) -> list[TranscriptEntry]:
        async with self._conn() as c:
            rows = await c.fetch(f"SELECT {_MESSAGE_COLS} FROM messages WHERE chat_id=$1 ORDER BY id DESC LIMIT $2",
                                 chat_id, limit)
        return [_entry(row) for row in reversed(rows)]

    async def messages_by_id(self, ids: list[int]) -> list[TranscriptEntry]:
        async with self._conn() as c:
            rows = await c.fetch(f"SELECT {_MESSAGE_COLS} FROM messages WHERE id = ANY($1::bigint[])",
                                 [int(i) for i in ids])
        found = {row[0]: _entry(row) for row in rows}
        return [found[i] for i in ids if i in found]

    async def record_action(self, chat_id: str, name: str, args: dict[str, Any]) -> int:
        async with self._conn() as c:
            return int(await c.fetchval("INSERT INTO actions (chat_id, name, args, at) VALUES ($1, $2, $3, $4) "
                                        "RETURNING id", chat_id, name, _json(args), time.time()))

    async def actions(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, chat_id, name, args, at FROM actions"
        async with self._conn() as c:
            rows = await (c.fetch(sql + " WHERE chat_id=$1 ORDER BY id", chat_id) if chat_id
                          else c.fetch(sql + " ORDER BY id"))
        return [{"id": r[0], "chat_id": r[1], "name": r[2], "args": json.loads(r[3]), "at": r[4]} for r in rows]

    async def analytics(self, since: float | None = None) -> list[AnalyticsEvent]:
        async with self._conn() as c:
            rows = await c.fetch("SELECT chat_id, events, at FROM turn_events WHERE at >= $1 ORDER BY id", since or 0.0)
        return [AnalyticsEvent(chat_id, name, data, at) for chat_id, events, at in rows
                for name, data in json.loads(events)]

    async def count_conversations(self) -> int:
        async with self._conn() as c:
            return int(await c.fetchval("SELECT count(*) FROM conversations"))

    # ---- inbox ----------------------------------------------------------------------------------
    async def inbox_add(self, items: list[InboxItem]) -> list[str]:
        if not items:
            return []
        async with self._conn() as c:
            rows = await c.fetch(
                "INSERT INTO inbox (key, chat_id, payload, at) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) "
                "ON CONFLICT (key) DO NOTHING RETURNING key",
                [i.key for i in items], [i.chat_id for i in items], [i.payload for i in items], [i.at for i in items])
        new = {r[0] for r in rows}
        seen: set[str] = set()
        out = []
        for item in items:  # in the order given, each key once
            if item.key in new and item.key not in seen:
                seen.add(item.key)
                out.append(item.key)
        return out

    async def inbox_finish(self, key: str, outcome: str = "done") -> None:
        outcome = check_outcome(outcome)
        mark = self._take_mark(key)
        if self._turn.get() is not None:  # inside a turn: in its transaction
            async with self._conn() as c:
                await c.execute(_FINISH_MANY, *_finish_args([(key, outcome, time.time(), mark)]))
        else:  # outcomes recorded together go in one statement (bot/store/pg_batch.py)
            await self._finishes.submit((key, outcome, time.time(), mark))
        if key in self._held:
            self._held[key] = outcome

    async def _finish_many(self, requests: list[_Finish]) -> list[None]:
        unique = list({r[0]: r for r in reversed(requests)}.values())  # a key's first outcome wins, as alone
        pool = await self._pool.get()
        async with pool.acquire() as c:
            await c.execute(_FINISH_MANY, *_finish_args(unique))
        return [None] * len(requests)

    def _take_mark(self, key: str) -> tuple[bool, str, int] | None:
        """The deferred delivery mark of a held update's last reply (see __init__), forgotten here."""
        last = self._last_reply.pop(key, None)
        mark = self._marks.pop(last, None) if last is not None else None
        return (mark[1], mark[2], last) if mark is not None and last is not None else None

    async def inbox_status(self, key: str) -> str | None:
        held = self._held.get(key)
        if held:  # a row this process holds changes only through this process ("": read it again)
            return held
        async with self._conn() as c:
            return await c.fetchval("SELECT status FROM inbox WHERE key=$1", key)

    def _hold(self, key: str, status: str) -> str:
        if status in (INBOX_NEW, INBOX_TURNED):
            self._held[key] = status
        return status

    async def inbox_store_claim(self, item: InboxItem, lease: float) -> str:
        """`inbox_add` and `inbox_claim` of one update (the webhook's common case: a new update, or a
        repeat nobody holds); the same answers as `inbox_claim`. Updates arriving together are
        stored and claimed in one statement (bot/store/pg_batch.py)."""
        return await self._claims.submit((item, lease))

    async def _claim_many(self, requests: list[tuple[InboxItem, float]]) -> list[str]:
        first: dict[str, int] = {}
        for i, (item, _) in enumerate(requests):
            first.setdefault(item.key, i)
        unique = [requests[i] for i in first.values()]
        pool = await self._pool.get()
        async with pool.acquire() as c:
            items = [item for item, _ in unique]
            rows = await c.fetch(_CLAIM_MANY, [i.key for i in items], [i.chat_id for i in items],
                                 [i.payload for i in items], [i.at for i in items], [lease for _, lease in unique])
            claimed = {row[0]: str(row[1]) for row in rows}
            others = [item.key for item, _ in unique if item.key not in claimed]
            known = ({row[0]: str(row[1]) for row in await c.fetch(
                "SELECT key, status FROM inbox WHERE key = ANY($1::text[])", others)} if others else {})
        answers = []
        for i, (item, _) in enumerate(requests):
            if item.key in claimed:  # this process's now (twice in one batch: the first request's)
                answers.append(self._hold(item.key, claimed[item.key]) if first[item.key] == i else INBOX_BUSY)
            else:  # another process holds it, or it has its outcome
                status = known[item.key]
                answers.append(INBOX_BUSY if status in (INBOX_NEW, INBOX_TURNED) else status)
        return answers

    async def inbox_claim(self, key: str, lease: float) -> str:
        """Several processes: make a stored update this process's to handle for `lease` seconds.
        Its status ("new" or "turned") when claimed; its outcome when it has one (nothing to do);
        INBOX_BUSY while another process's lease runs. Until `inbox_release`, this store answers
        `inbox_status` of a row it holds from memory (no other process changes it meanwhile)."""
        async with self._conn() as c:
            status = await c.fetchval(
                "UPDATE inbox SET lease_until=extract(epoch FROM clock_timestamp()) + $2 WHERE key=$1 "
                "AND status IN ('new', 'turned') AND (lease_until IS NULL OR "
                "lease_until < extract(epoch FROM clock_timestamp())) RETURNING status", key, lease)
            if status is not None:
                return self._hold(key, str(status))
            status = await c.fetchval("SELECT status FROM inbox WHERE key=$1", key)
        if status is None:
            raise KeyError(f"inbox row {key} does not exist (store it first)")
        return INBOX_BUSY if status in (INBOX_NEW, INBOX_TURNED) else str(status)

    async def inbox_release(self, key: str) -> None:
        """Done with a claimed row: an unfinished one is given back before its lease runs out (its
        handling failed: a retry takes it at once)."""
        mark = self._take_mark(key)
        try:
            if mark is not None:  # not finished after all: the mark on its own
                await self.mark_delivery(mark[2], mark[0], mark[1])
        finally:
            await self._release(key)

    async def _release(self, key: str) -> None:
        if self._held.pop(key, None) in (INBOX_NEW, INBOX_TURNED, "", None):
            async with self._conn() as c:
                await c.execute("UPDATE inbox SET lease_until=NULL WHERE key=$1 AND status IN ('new', 'turned')",
                                key)

    async def inbox_pending(self) -> list[PendingUpdate]:
        async with self._conn() as c:
            rows = await c.fetch("SELECT key, chat_id, payload, at, status, replies, followups FROM inbox "
                                 "WHERE status IN ('new', 'turned') ORDER BY id")
        return [PendingUpdate(key, chat_id, payload, at, status, json.loads(replies or "[]"),
                              json.loads(followups or "[]"))
                for key, chat_id, payload, at, status, replies, followups in rows]

    # ---- ownership ------------------------------------------------------------------------------
    async def owner_record(self, order: str, buyer: str, since: float) -> OwnerRecord:
        async with self._conn() as c:
            return await _owner_record(c, order, buyer, since)

    async def owner_wrong(self, order: str, buyer: str, at: float, *, lock_after: int, since: float) -> OwnerRecord:
        async with self._tx() as c:
            # one order's wrong answers are counted by one writer at a time (several processes)
            await c.execute("SELECT pg_advisory_xact_lock($1)", chat_lock_key("owner:" + order))
            await c.execute("INSERT INTO owner_wrong (order_number, buyer, at) VALUES ($1, $2, $3)", order, buyer, at)
            mine = await c.fetchval("SELECT count(*) FROM owner_wrong WHERE order_number=$1 AND buyer=$2", order, buyer)
            if mine >= lock_after:
                await c.execute("INSERT INTO owner_locks (order_number, buyer, at) VALUES ($1, $2, $3) "
                                "ON CONFLICT (order_number, buyer) DO NOTHING", order, buyer, at)
            return await _owner_record(c, order, buyer, since)

    async def owner_reopen(self, order: str) -> int:
        async with self._tx() as c:
            wrong = await c.fetchval("WITH d AS (DELETE FROM owner_wrong WHERE order_number=$1 RETURNING 1) "
                                     "SELECT count(*) FROM d", order)
            locks = await c.fetchval("WITH d AS (DELETE FROM owner_locks WHERE order_number=$1 RETURNING 1) "
                                     "SELECT count(*) FROM d", order)
        return int(wrong) + int(locks)

    async def claim_link(self, link: str, buyer: str, at: float) -> str:
        async with self._tx() as c:
            await c.execute("INSERT INTO link_claims (link, buyer, at) VALUES ($1, $2, $3) "
                            "ON CONFLICT (link) DO NOTHING", link, buyer, at)
            return str(await c.fetchval("SELECT buyer FROM link_claims WHERE link=$1", link))

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, now: float, retention: Retention, *, batch: int = PURGE_BATCH,
                    pause: float = PURGE_PAUSE) -> dict[str, int]:
        days = {"messages": retention.transcript_days, "turn_events": retention.analytics_days,
                "actions": retention.actions_days, "inbox": retention.inbox_days}
        counts = dict.fromkeys(PURGED_TABLES, 0)
        for table in PURGED_TABLES:
            if days[table] > 0:
                counts[table] = await self._purge_table(table, now - days[table] * 86400, batch, pause)
        return counts

    async def _purge_table(self, table: str, cutoff: float, batch: int, pause: float) -> int:
        """As the SQLite store does: walk the table in id order, `batch` rows per transaction, and
        stop at the first batch that ends with a row young enough to keep."""
        keep = f" AND status NOT IN ('{INBOX_NEW}', '{INBOX_TURNED}')" if table == "inbox" else ""
        total, after = 0, 0
        pool = await self._pool.get()
        while True:
            async with pool.acquire() as c, c.transaction():
                rows = await c.fetch(f"SELECT id, at FROM {table} WHERE id > $1 ORDER BY id LIMIT $2", after, batch)
                if not rows:
                    break
                last_id, last_at = rows[-1]
                deleted = await c.fetchval(f"WITH d AS (DELETE FROM {table} WHERE id > $1 AND id <= $2 AND at < $3"
                                           f"{keep} RETURNING 1) SELECT count(*) FROM d", after, last_id, cutoff)
            total += int(deleted)
            after = last_id
            if len(rows) < batch or last_at is None or last_at >= cutoff:
                break
            await asyncio.sleep(pause)
        return total

    async def close(self) -> None:
        await self._pool.close()
