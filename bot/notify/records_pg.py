"""`NotifyRecords` in PostgreSQL (`PgNotifyRecords`), for several bot processes on one database
(DATABASE_URL=postgresql://...): the same contract as `SqliteNotifyRecords`
(tests/test_notify_records_contract.py runs both); every write commits before the method returns.

The tables are PostgreSQL migration 4 (bot/store/pg_migrations.py). Every method is one statement,
so the checks the contract makes (a watch or a key seen before, a change older than what the buyer
was told, a message still pending) hold against every other process: a row's lock makes a second
writer re-check its condition on the first one's result.

Claiming a message is a conditional UPDATE (pending -> sending) of a row locked `FOR UPDATE SKIP
LOCKED`: of several processes claiming one message at once, one wins and the others give up at once.
The claim is a lease (`lease` seconds, the server's clock): the sender runs on the leader only, but a
dying leader and the next one can overlap for a moment, so `recover()` (run by each new leader) and
`release_expired()` (run by the sender now and then) hand back only messages whose sender's lease
ran out, never one a live process is sending.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from bot.notify.records import ERROR_LIMIT, FAILED, PENDING, SENDING, SENT, Outbound, Watch
from bot.store.pg_pool import LazyPool

_WATCH_COLS = "chat_id, posting_number, order_number, lang, since, last_rank, last_at"
_OUT_COLS = "id, key, chat_id, thread_id, payload, status, attempts, next_at, error, message_id, created_at"
_NOW = "extract(epoch FROM clock_timestamp())"  # the server's clock: one for every process's leases
# Statuses are written into the statements that scan by status: the partial indexes (pending by
# due time, sending) match only a literal, not a parameter of a prepared statement.


def _count(status: str) -> int:
    """Rows changed, from asyncpg's command status ("UPDATE 1", "DELETE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


def _out(row: asyncpg.Record) -> Outbound:
    r = list(row)
    r[4] = json.loads(r[4])
    return Outbound(*r)


class PgNotifyRecords:
    """`NotifyRecords` on PostgreSQL; `url` is DATABASE_URL."""

    def __init__(self, url: str, *, pool_size: int = 2, pool: LazyPool | None = None, lease: float = 30.0) -> None:
        self._pool = pool or LazyPool(url, max_size=pool_size)
        self.lease = lease  # seconds a claimed message stays its sender's (nobody hands it back meanwhile)

    async def close(self) -> None:
        await self._pool.close()

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await (await self._pool.get()).fetch(sql, *args)

    async def _exec(self, sql: str, *args: Any) -> int:
        return _count(await (await self._pool.get()).execute(sql, *args))

    # ---- watches ---------------------------------------------------------------------------------
    async def watch(self, chat_id: str, posting_number: str, order_number: str, lang: str, now: float) -> bool:
        return await self._exec(
            "INSERT INTO notify_watches (chat_id, posting_number, order_number, lang, since) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, posting_number) DO NOTHING",
            chat_id, posting_number, order_number, lang, now) == 1

    async def unwatch(self, chat_id: str, posting_number: str | None = None) -> int:
        if posting_number is None:
            return await self._exec("DELETE FROM notify_watches WHERE chat_id=$1", chat_id)
        return await self._exec("DELETE FROM notify_watches WHERE chat_id=$1 AND posting_number=$2",
                                chat_id, posting_number)

    async def watches(self, chat_id: str) -> list[Watch]:
        rows = await self._fetch(f"SELECT {_WATCH_COLS} FROM notify_watches WHERE chat_id=$1 ORDER BY since, seq",
                                 chat_id)
        return [Watch(*r) for r in rows]

    async def watchers(self, posting_number: str) -> list[Watch]:
        rows = await self._fetch(f"SELECT {_WATCH_COLS} FROM notify_watches WHERE posting_number=$1 "
                                 "ORDER BY since, seq", posting_number)
        return [Watch(*r) for r in rows]

    async def advance(self, chat_id: str, posting_number: str, rank: int, at: float) -> bool:
        # One statement: a concurrent advance of the same watch waits for the row and re-checks.
        return await self._exec(
            "UPDATE notify_watches SET last_rank=$3, last_at=greatest(last_at, $4) WHERE chat_id=$1 "
            "AND posting_number=$2 AND (last_rank < $3 OR (last_rank = $3 AND last_at <= $4))",
            chat_id, posting_number, rank, float(at)) == 1

    # ---- the outbox ------------------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: int, payload: dict[str, Any], now: float, *,
                      thread_id: int | None = None) -> int | None:
        rows = await self._fetch(
            "INSERT INTO notify_outbox (key, chat_id, thread_id, payload, next_at, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (key) DO NOTHING RETURNING id",
            key, chat_id, thread_id, json.dumps(payload, ensure_ascii=False, separators=(",", ":")), float(now))
        return int(rows[0][0]) if rows else None

    async def due(self, now: float, limit: int = 100) -> list[Outbound]:
        rows = await self._fetch(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE status='{PENDING}' AND next_at<=$1 "
                                 "ORDER BY next_at, id LIMIT $2", float(now), limit)
        return [_out(r) for r in rows]

    async def claim(self, outbound_id: int) -> bool:
        return await self._exec(
            f"UPDATE notify_outbox SET status=$1, attempts=attempts+1, lease_until={_NOW} + $4 "
            "WHERE id=(SELECT id FROM notify_outbox WHERE id=$2 AND status=$3 FOR UPDATE SKIP LOCKED)",
            SENDING, outbound_id, PENDING, self.lease) == 1

    async def mark_sent(self, outbound_id: int, message_id: int | None, now: float) -> None:
        await self._exec("UPDATE notify_outbox SET status=$1, message_id=$2, sent_at=$3, error='', lease_until=NULL "
                         "WHERE id=$4", SENT, message_id, float(now), outbound_id)

    async def mark_retry(self, outbound_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        await self._exec("UPDATE notify_outbox SET status=$1, error=$2, next_at=$3, attempts=greatest(0, attempts-$4), "
                         "lease_until=NULL WHERE id=$5 AND status=$6",
                         PENDING, error[:ERROR_LIMIT], float(next_at), 0 if count_attempt else 1, outbound_id, SENDING)

    async def postpone(self, outbound_id: int, next_at: float) -> None:
        await self._exec("UPDATE notify_outbox SET next_at=$1 WHERE id=$2 AND status=$3",
                         float(next_at), outbound_id, PENDING)

    async def mark_failed(self, outbound_id: int, error: str) -> None:
        await self._exec("UPDATE notify_outbox SET status=$1, error=$2, lease_until=NULL WHERE id=$3",
                         FAILED, error[:ERROR_LIMIT], outbound_id)

    async def fail_pending(self, chat_id: int, error: str) -> int:
        return await self._exec("UPDATE notify_outbox SET status=$1, error=$2 WHERE chat_id=$3 AND status=$4",
                                FAILED, error[:ERROR_LIMIT], chat_id, PENDING)

    async def recover(self) -> int:
        # Several processes: only messages whose sender's lease ran out (it died mid-send); a live
        # process (the leader being replaced) may be sending the others right now.
        return await self.release_expired()

    async def release_expired(self) -> int:
        return await self._exec(f"UPDATE notify_outbox SET status='{PENDING}', lease_until=NULL "
                                f"WHERE status='{SENDING}' AND (lease_until IS NULL OR lease_until <= {_NOW})")

    async def outbound(self, key: str) -> Outbound | None:
        rows = await self._fetch(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE key=$1", key)
        return _out(rows[0]) if rows else None

    async def outbox(self, chat_id: int | None = None) -> list[Outbound]:
        if chat_id is None:
            rows = await self._fetch(f"SELECT {_OUT_COLS} FROM notify_outbox ORDER BY id")
        else:
            rows = await self._fetch(f"SELECT {_OUT_COLS} FROM notify_outbox WHERE chat_id=$1 ORDER BY id", chat_id)
        return [_out(r) for r in rows]

    async def last_sent(self, since: float, now: float) -> dict[int, float]:
        rows = await self._fetch("SELECT chat_id, max(CASE WHEN status=$1 THEN $2::float8 ELSE sent_at END) "
                                 "FROM notify_outbox WHERE (status=$3 AND sent_at>=$4) OR status=$1 GROUP BY chat_id",
                                 SENDING, float(now), SENT, float(since))
        return {int(chat): float(at) for chat, at in rows}

    async def counts(self) -> dict[str, int]:
        out = dict.fromkeys((PENDING, SENDING, SENT, FAILED), 0)
        for status, n in await self._fetch("SELECT status, count(*) FROM notify_outbox GROUP BY status"):
            out[status] = int(n)
        return out

    async def purge(self, before: float) -> int:
        return await self._exec("DELETE FROM notify_outbox WHERE status IN ($1, $2) AND created_at < $3",
                                SENT, FAILED, float(before))
