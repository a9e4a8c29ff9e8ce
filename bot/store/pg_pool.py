"""Connections to PostgreSQL (DATABASE_URL=postgresql://...), shared by the store, the handoff
records and the order mirror: a pool of our own (see `Pool`), the schema migrated on first use.

asyncpg takes the URL as libpq does (`postgresql://user:password@host:port/db`, or a unix socket:
`postgresql://user@/db?host=/run/postgresql`); other query parameters become server settings
(`?search_path=bot` puts the tables in a schema of their own).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any

import asyncpg

from bot.store.pg_migrations import migrate

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.startswith(SCHEMES)  # type: ignore[union-attr]


def chat_lock_key(chat_id: str) -> int:
    """A chat's pg_advisory_xact_lock key: 63 bits of a hash of its id, the same in every process."""
    return int.from_bytes(hashlib.blake2b(chat_id.encode(), digest_size=8).digest(), "big") >> 1


class Pool:
    """asyncpg connections shared by one process's tasks: up to `max_size` open, opened on demand,
    the most recently used handed out first; a task that finds none free waits its turn (FIFO).

    asyncpg's own Pool costs ~100 us of CPU per acquire and release (a shielded task, a timeout and
    a proxy per use, measured with bench/pg.py): three times per webhook update, a tenth of the
    bot's CPU. This one hands connections over as they are: a connection given back inside a
    transaction (its user failed) is rolled back, one given back by a cancelled or failed user
    mid-statement is closed, a closed one is dropped (the next user opens a new one).
    """

    def __init__(self, url: str, *, max_size: int = 10, **kwargs: Any) -> None:
        self.url, self.max_size, self.kwargs = url, max(1, max_size), kwargs
        self._idle: list[asyncpg.Connection] = []
        self._open = 0  # open or being opened
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = collections.deque()
        self._closed = False

    def acquire(self) -> _Use:
        """`async with pool.acquire() as conn:` a connection of its own for the block."""
        return _Use(self)

    async def _take(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the connection pool is closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1
            if self._open < self.max_size:
                self._open += 1
                try:
                    return await asyncpg.connect(self.url, **self.kwargs)
                except BaseException:
                    self._open -= 1
                    self._wake(None)
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over just as we were cancelled
                    given = waiter.result()
                    if given is not None:
                        self._give_back(given)
                    else:
                        self._wake(None)  # the freed slot is someone else's
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed
            # None: a slot freed (a connection was dropped): go round and open one

    def _wake(self, conn: asyncpg.Connection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def _give_back(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed():
            if not conn.is_closed():
                conn.terminate()
            self._open -= 1
            self._wake(None)
        elif not self._wake(conn):
            self._idle.append(conn)

    async def release(self, conn: asyncpg.Connection) -> None:
        """Give a connection back: a transaction its user left open is rolled back first."""
        try:
            if not conn.is_closed() and conn.is_in_transaction():
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - mid-statement or broken: not reusable
                    conn.terminate()
        except BaseException:  # cancelled while rolling back
            conn.terminate()
            raise
        finally:
            self._give_back(conn)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.acquire() as conn:
            return await conn.execute(sql, *args)

    async def close(self) -> None:
        """Close the idle connections now, the others as they are given back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        while self._wake(None):
            pass
        for conn in idle:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # noqa: BLE001 - going away anyway
                conn.terminate()


class _Use:
    """One use of a pooled connection (a class, not @asynccontextmanager: cheaper per use)."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn = await self.pool._take()
        return self.conn

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        if kind is not None and issubclass(kind, asyncio.CancelledError) and not conn.is_closed():
            conn.terminate()  # possibly mid-statement: never hand it to someone else
        await self.pool.release(conn)


class LazyPool:
    """A `Pool` whose first `get()` migrates the schema (the app is built outside the event loop)."""

    def __init__(self, url: str, *, max_size: int = 10, **kwargs: Any) -> None:
        self.url = url
        self.max_size = max_size
        self.kwargs = kwargs
        self._pool: Pool | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Pool:
        if self._pool is not None:
            return self._pool
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None:
                conn = await asyncpg.connect(self.url, **self.kwargs)
                try:
                    await migrate(conn)
                finally:
                    await conn.close()
                self._pool = Pool(self.url, max_size=self.max_size, **self.kwargs)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
