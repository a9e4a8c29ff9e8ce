"""One leader among the processes sharing a PostgreSQL database, and the NOTIFY wake-ups it hears.

The leader holds a session-level advisory lock (`LEADER_KEY`) on a dedicated connection (never a
pooled one, never through PgBouncer in transaction mode: the lock and LISTEN live as long as the
session). Every process tries `pg_try_advisory_lock` every `check_every` seconds; the one that gets
it leads until its connection ends. A leader killed with -9 loses its socket, the server ends its
session and frees the lock at once: the next try of another process takes over, so failover takes
about `check_every` seconds. The leader checks its connection at the same pace: when it breaks, it
stops leading at once and tries again on a new connection.

The same connection LISTENs: `on_notify(channel, payload)` is called for every NOTIFY on
`channels` (the outbox's: a relay was enqueued somewhere), in every process, leader or not.

Jobs that must run once for all processes (the handoff's periodic job, retention, senders that must
respect the bot's Telegram rate limits) ask `is_leader()` before each round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence

import asyncpg

log = logging.getLogger(__name__)

LEADER_KEY = 0x6F7A6F6E_0002  # pg_try_advisory_lock key of the leader ("ozon", 2)
OUTBOX_CHANNEL = "ozonbot_outbox"  # NOTIFY channel: a relay was enqueued
APPLICATION_NAME = "ozonbot-leadership-pid-"  # + the OS pid: the leadership connection in pg_stat_activity


class Leadership:
    def __init__(self, url: str, *, check_every: float = 1.0, channels: Sequence[str] = (),
                 on_notify: Callable[[str, str], None] | None = None,
                 on_change: Callable[[bool], None] | None = None, key: int = LEADER_KEY) -> None:
        self.url = url
        self.check_every = check_every
        self.channels = tuple(channels)
        self.on_notify = on_notify
        self.on_change = on_change
        self.key = key
        self.elected_at: float | None = None  # time.monotonic() when this process became leader
        self._leader = False
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None

    def is_leader(self) -> bool:
        return self._leader

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()
        self._set(False)

    def _set(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        self.elected_at = time.monotonic() if leader else None
        log.warning("this process %s the leader", "is now" if leader else "is no longer")
        if self.on_change is not None:
            self.on_change(leader)

    def _heard(self, conn: object, pid: int, channel: str, payload: object) -> None:
        if self.on_notify is not None:
            self.on_notify(channel, str(payload))

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:  # noqa: BLE001 - broken, or mid-query when cancelled: drop the socket
                conn.terminate()  # (a session left open would keep the leader's lock)

    async def _run(self) -> None:
        while True:
            try:
                # named so operators (and bench/pg.py) can tell which process leads: pg_stat_activity
                self._conn = await asyncpg.connect(self.url, timeout=10, server_settings={
                    "application_name": f"{APPLICATION_NAME}{os.getpid()}"})
                for channel in self.channels:
                    await self._conn.add_listener(channel, self._heard)
                while True:
                    if self._leader:  # a broken connection must end the leadership at once
                        await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.check_every * 2)
                    elif await asyncio.wait_for(self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key),
                                                self.check_every * 2):
                        self._set(True)
                    await asyncio.sleep(self.check_every)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._set(False)
                log.warning("leadership connection lost (%s); trying again", exc)
                await self._close()
                await asyncio.sleep(self.check_every)
