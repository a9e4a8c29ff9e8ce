"""Handoff records in PostgreSQL (`PgHandoffRecords`), for several bot processes on one database
(DATABASE_URL=postgresql://...): the same contract as `SqliteHandoffRecords`
(tests/test_handoff_records_contract.py runs both); every write commits before the method returns.

The tables are created by bot/store/pg_migrations.py, next to the store's. Claiming a relay is one
conditional UPDATE (pending -> sending), so of several processes flushing the outbox at once only
one sends each relay; the claim is a lease (`lease` seconds): `recover()`, which every process runs
at start-up, hands back only relays whose sender died (lease run out), never one a live process is
sending.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from bot.handoff.records import ERROR_LIMIT, FAILED, OPEN, PENDING, SENDING, SENT, Relay, Session, Topic
from bot.store.pg_leader import OUTBOX_CHANNEL
from bot.store.pg_pool import LazyPool

_TOPIC_COLS = "chat_id, thread_id, name, buyer_name, username, lang, order_number"
_SESSION_COLS = ("id, chat_id, flow_id, node_id, reason, status, started_at, first_reply_at, closed_at, "
                 "coalesce(closed_by, ''), rating, announced_at")
_RELAY_COLS = ("id, key, chat_id, session_id, direction, op, src_chat, src_message_id, payload, status, attempts, "
               "next_at, coalesce(error, ''), dest_chat, dest_message_id, created_at")
_OPEN_IDS = "SELECT id FROM handoff_sessions WHERE status=$1"
_NOTICE = ("SELECT id, chat_id, action, args, message_id, seen_by, seen_at, outcome, outcome_reason, outcome_by, "
           "outcome_at, at FROM handoff_notices")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _count(status: str) -> int:
    """Rows changed, from asyncpg's command status ("UPDATE 1", "DELETE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


def _relay(row: asyncpg.Record) -> Relay:
    r = list(row)
    r[8] = json.loads(r[8] or "{}")
    return Relay(*r)


def _notice_row(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row[0], "chat_id": row[1], "action": row[2], "args": json.loads(row[3] or "{}"),
            "message_id": row[4], "seen_by": row[5], "seen_at": row[6], "outcome": row[7],
            "outcome_reason": row[8], "outcome_by": row[9], "outcome_at": row[10]}


class PgHandoffRecords:
    """`HandoffRecords` on PostgreSQL; `url` is DATABASE_URL."""

    def __init__(self, url: str, *, pool_size: int = 5, pool: LazyPool | None = None, lease: float = 60.0) -> None:
        self._pool = pool or LazyPool(url, max_size=pool_size)
        self.lease = lease  # seconds a claimed relay stays this process's (recover() leaves it alone meanwhile)

    async def close(self) -> None:
        await self._pool.close()

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await (await self._pool.get()).fetch(sql, *args)

    async def _row(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await (await self._pool.get()).fetchrow(sql, *args)

    async def _exec(self, sql: str, *args: Any) -> int:
        return _count(await (await self._pool.get()).execute(sql, *args))

    # ---- topics ---------------------------------------------------------------------------------
    async def topic(self, chat_id: str) -> Topic | None:
        row = await self._row(f"SELECT {_TOPIC_COLS} FROM handoff_topics WHERE chat_id=$1", chat_id)
        return Topic(*row) if row else None

    async def topic_by_thread(self, thread_id: int) -> Topic | None:
        row = await self._row(f"SELECT {_TOPIC_COLS} FROM handoff_topics WHERE thread_id=$1", thread_id)
        return Topic(*row) if row else None

    async def save_topic(self, topic: Topic, now: float, *, created: bool) -> None:
        pool = await self._pool.get()
        async with pool.acquire() as c, c.transaction():
            await c.execute("DELETE FROM handoff_topics WHERE thread_id=$1 AND chat_id<>$2",
                            topic.thread_id, topic.chat_id)
            await c.execute(
                "INSERT INTO handoff_topics (chat_id, thread_id, name, buyer_name, username, lang, order_number, "
                "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (chat_id) DO UPDATE "
                "SET thread_id=excluded.thread_id, name=excluded.name, buyer_name=excluded.buyer_name, "
                "username=excluded.username, lang=excluded.lang, order_number=excluded.order_number, "
                "updated_at=excluded.updated_at",
                topic.chat_id, topic.thread_id, topic.name, topic.buyer_name, topic.username, topic.lang,
                topic.order_number, now)
            if created:
                await c.execute("INSERT INTO handoff_topic_log (chat_id, thread_id, at) VALUES ($1, $2, $3)",
                                topic.chat_id, topic.thread_id, now)

    async def topics_created_since(self, since: float, chat_id: str | None = None) -> int:
        if chat_id is None:
            row = await self._row("SELECT count(*) FROM handoff_topic_log WHERE at>=$1", since)
        else:
            row = await self._row("SELECT count(*) FROM handoff_topic_log WHERE at>=$1 AND chat_id=$2", since, chat_id)
        return int(row[0]) if row else 0

    # ---- sessions -------------------------------------------------------------------------------
    async def open_session(self, chat_id: str) -> Session | None:
        row = await self._row(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE chat_id=$1 AND status=$2 "
                              "ORDER BY id DESC LIMIT 1", chat_id, OPEN)
        return Session(*row) if row else None

    async def last_session(self, chat_id: str) -> Session | None:
        row = await self._row(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE chat_id=$1 ORDER BY id DESC "
                              "LIMIT 1", chat_id)
        return Session(*row) if row else None

    async def session(self, session_id: int) -> Session | None:
        row = await self._row(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE id=$1", session_id)
        return Session(*row) if row else None

    async def session_count(self, chat_id: str) -> int:
        row = await self._row("SELECT count(*) FROM handoff_sessions WHERE chat_id=$1", chat_id)
        return int(row[0]) if row else 0

    async def sessions(self, since: float = 0.0) -> list[Session]:
        rows = await self._fetch(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE started_at>=$1 ORDER BY id",
                                 since)
        return [Session(*r) for r in rows]

    async def add_session(self, chat_id: str, flow_id: str, node_id: str, reason: str, now: float) -> int:
        row = await self._row("INSERT INTO handoff_sessions (chat_id, flow_id, node_id, reason, status, started_at) "
                              "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", chat_id, flow_id, node_id, reason, OPEN,
                              now)
        return int(row[0]) if row else 0

    async def queue_position(self, session_id: int) -> int:
        row = await self._row("SELECT count(*) FROM handoff_sessions WHERE status=$1 AND first_reply_at IS NULL "
                              "AND id<$2", OPEN, session_id)
        return (int(row[0]) if row else 0) + 1

    async def unanswered(self) -> list[Session]:
        rows = await self._fetch(f"SELECT {_SESSION_COLS} FROM handoff_sessions WHERE status=$1 AND "
                                 "first_reply_at IS NULL ORDER BY id", OPEN)
        return [Session(*r) for r in rows]

    async def mark_first_reply(self, session_id: int, now: float) -> bool:
        return await self._exec("UPDATE handoff_sessions SET first_reply_at=$1 WHERE id=$2 AND first_reply_at IS NULL",
                                now, session_id) > 0

    async def mark_announced(self, session_id: int, now: float) -> None:
        await self._exec("UPDATE handoff_sessions SET announced_at=$1 WHERE id=$2", now, session_id)

    async def end_session(self, session_id: int, status: str, now: float, by: str = "") -> bool:
        return await self._exec("UPDATE handoff_sessions SET status=$1, closed_at=$2, closed_by=$3 WHERE id=$4 "
                                "AND status=$5", status, now, by, session_id, OPEN) > 0

    async def rate(self, session_id: int, chat_id: str, rating: int) -> bool:
        return await self._exec("UPDATE handoff_sessions SET rating=$1 WHERE id=$2 AND chat_id=$3 AND status<>$4 "
                                "AND rating IS NULL", rating, session_id, chat_id, OPEN) > 0

    # ---- relays (the outbox) --------------------------------------------------------------------
    async def enqueue(self, key: str, chat_id: str, direction: str, op: str, payload: dict[str, Any], now: float, *,
                      session_id: int | None = None, src_chat: int | None = None,
                      src_message_id: int | None = None) -> int | None:
        # NOTIFY (delivered at commit) wakes the leader's outbox job in whichever process leads
        row = await self._row(
            "WITH ins AS (INSERT INTO handoff_relays (key, chat_id, session_id, direction, op, src_chat, "
            "src_message_id, payload, status, attempts, next_at, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10) ON CONFLICT (key) DO NOTHING RETURNING id) "
            "SELECT id, pg_notify($11, chat_id) FROM ins, (SELECT $2::text AS chat_id) c",
            key, chat_id, session_id, direction, op, src_chat, src_message_id, _json(payload), PENDING, now,
            OUTBOX_CHANNEL)
        return int(row[0]) if row else None

    async def due(self, now: float | None, chat_id: str | None = None) -> list[Relay]:
        sql = f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE status=$1"
        args: list[Any] = [PENDING]
        if now is not None:
            args.append(now)
            sql += f" AND next_at<=${len(args)}"
        if chat_id is not None:
            args.append(chat_id)
            sql += f" AND chat_id=${len(args)}"
        return [_relay(r) for r in await self._fetch(sql + " ORDER BY id", *args)]

    async def earlier_unsent(self, relay: Relay) -> bool:
        row = await self._row("SELECT 1 FROM handoff_relays WHERE chat_id=$1 AND direction=$2 AND id<$3 "
                              "AND status IN ($4, $5) LIMIT 1", relay.chat_id, relay.direction, relay.id, PENDING,
                              SENDING)
        return row is not None

    async def claim(self, relay_id: int) -> bool:
        # SKIP LOCKED: of processes claiming the same relay at once, the others give up at once
        # instead of waiting for the winner's row lock
        return await self._exec("UPDATE handoff_relays SET status=$1, attempts=attempts+1, "
                                "lease_until=extract(epoch FROM clock_timestamp()) + $4 WHERE id=(SELECT id FROM "
                                "handoff_relays WHERE id=$2 AND status=$3 FOR UPDATE SKIP LOCKED)",
                                SENDING, relay_id, PENDING, self.lease) > 0

    async def mark_sent(self, relay_id: int, dest_chat: int, dest_message_id: int | None, now: float) -> None:
        await self._exec("UPDATE handoff_relays SET status=$1, dest_chat=$2, dest_message_id=$3, sent_at=$4, "
                         "error='' WHERE id=$5", SENT, dest_chat, dest_message_id, now, relay_id)

    async def mark_retry(self, relay_id: int, error: str, next_at: float, *, count_attempt: bool = True) -> None:
        await self._exec("UPDATE handoff_relays SET status=$1, error=$2, next_at=$3, "
                         "attempts=greatest(0, attempts-$4) WHERE id=$5",
                         PENDING, error[:ERROR_LIMIT], next_at, 0 if count_attempt else 1, relay_id)

    async def mark_failed(self, relay_id: int, error: str) -> None:
        await self._exec("UPDATE handoff_relays SET status=$1, error=$2 WHERE id=$3", FAILED, error[:ERROR_LIMIT],
                         relay_id)

    async def recover(self) -> int:
        # Several processes: only relays whose sender's lease ran out (it died mid-send); another
        # live process may be sending the others right now.
        return await self.release_expired()

    async def release_expired(self) -> int:
        return await self._exec("UPDATE handoff_relays SET status=$1 WHERE status=$2 AND (lease_until IS NULL OR "
                                "lease_until <= extract(epoch FROM clock_timestamp()))", PENDING, SENDING)

    async def relay(self, key: str) -> Relay | None:
        row = await self._row(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE key=$1", key)
        return _relay(row) if row else None

    async def relay_by_copy(self, dest_chat: int, dest_message_id: int) -> Relay | None:
        row = await self._row(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE dest_chat=$1 AND dest_message_id=$2 "
                              "ORDER BY id LIMIT 1", dest_chat, dest_message_id)
        return _relay(row) if row else None

    async def relays(self, chat_id: str | None = None) -> list[Relay]:
        if chat_id is None:
            rows = await self._fetch(f"SELECT {_RELAY_COLS} FROM handoff_relays ORDER BY id")
        else:
            rows = await self._fetch(f"SELECT {_RELAY_COLS} FROM handoff_relays WHERE chat_id=$1 ORDER BY id", chat_id)
        return [_relay(r) for r in rows]

    # ---- notes, blocks, notices -----------------------------------------------------------------
    async def add_note(self, chat_id: str, session_id: int | None, author_id: int, author: str, text: str,
                       now: float) -> int:
        row = await self._row("INSERT INTO handoff_notes (chat_id, session_id, author_id, author, text, at) "
                              "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", chat_id, session_id, author_id, author,
                              text, now)
        return int(row[0]) if row else 0

    async def notes(self, chat_id: str) -> list[dict[str, Any]]:
        rows = await self._fetch("SELECT id, author, text, at FROM handoff_notes WHERE chat_id=$1 ORDER BY id", chat_id)
        return [{"id": r[0], "author": r[1], "text": r[2], "at": r[3]} for r in rows]

    async def block(self, chat_id: str, by: str, now: float) -> None:
        await self._exec('INSERT INTO handoff_blocked (chat_id, "by", at) VALUES ($1, $2, $3) ON CONFLICT (chat_id) '
                         'DO UPDATE SET "by"=excluded."by", at=excluded.at', chat_id, by, now)

    async def unblock(self, chat_id: str) -> bool:
        return await self._exec("DELETE FROM handoff_blocked WHERE chat_id=$1", chat_id) > 0

    async def is_blocked(self, chat_id: str) -> bool:
        return await self._row("SELECT 1 FROM handoff_blocked WHERE chat_id=$1", chat_id) is not None

    async def add_notice(self, chat_id: str, action: str, args: dict[str, Any], now: float) -> int:
        row = await self._row("INSERT INTO handoff_notices (chat_id, action, args, at) VALUES ($1, $2, $3, $4) "
                              "RETURNING id", chat_id, action, _json(args), now)
        return int(row[0]) if row else 0

    async def notice(self, notice_id: int) -> dict[str, Any] | None:
        row = await self._row(_NOTICE + " WHERE id=$1", notice_id)
        return _notice_row(row) if row else None

    async def notices(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = await self._fetch(_NOTICE + " WHERE at>=$1 ORDER BY id", since)
        return [{**_notice_row(r), "at": r[11]} for r in rows]

    async def set_outcome(self, notice_id: int, outcome: str, reason: str, by: str, now: float) -> bool:
        return await self._exec("UPDATE handoff_notices SET outcome=$1, outcome_reason=$2, outcome_by=$3, "
                                "outcome_at=$4 WHERE id=$5 AND outcome IS NULL", outcome, reason, by, now,
                                notice_id) > 0

    async def mark_seen(self, notice_id: int, by: str, now: float) -> bool:
        return await self._exec("UPDATE handoff_notices SET seen_by=$1, seen_at=$2 WHERE id=$3 AND seen_at IS NULL",
                                by, now, notice_id) > 0

    # ---- retention ------------------------------------------------------------------------------
    async def purge(self, before: float) -> dict[str, int]:
        # Identities never hand an id out twice; the newest row of each table still stays, as the
        # contract says (the SQLite backend needs it).
        pool = await self._pool.get()
        async with pool.acquire() as c, c.transaction():
            relays = _count(await c.execute(
                "DELETE FROM handoff_relays WHERE status IN ($1, $2) AND created_at<$3 "
                f"AND (session_id IS NULL OR session_id NOT IN ({_OPEN_IDS.replace('$1', '$4')})) "
                "AND id<(SELECT max(id) FROM handoff_relays)", SENT, FAILED, before, OPEN))
            notes = _count(await c.execute(
                f"DELETE FROM handoff_notes WHERE at<$1 AND (session_id IS NULL OR session_id NOT IN "
                f"({_OPEN_IDS.replace('$1', '$2')})) AND id<(SELECT max(id) FROM handoff_notes)", before, OPEN))
            notices = _count(await c.execute(
                "DELETE FROM handoff_notices WHERE at<$1 AND id<(SELECT max(id) FROM handoff_notices)", before))
            topic_log = _count(await c.execute("DELETE FROM handoff_topic_log WHERE at<$1", before))
        return {"relays": relays, "notes": notes, "notices": notices, "topic_log": topic_log}
