"""Connections to PostgreSQL (DATABASE_URL=postgresql://...), shared by the store and the handoff
records: a pool opened on first use (the app is built outside the event loop), migrated once.

asyncpg takes the URL as libpq does (`postgresql://user:password@host:port/db`, or a unix socket:
`postgresql://user@/db?host=/run/postgresql`); other query parameters become server settings
(`?search_path=bot` puts the tables in a schema of their own).
"""

from __future__ import annotations

import asyncio
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


async def _keep(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is (only a transaction left open is rolled back):
    asyncpg's default reset costs a round trip per use (RESET ALL, UNLISTEN, unlock all) for state
    the backends never leave behind (transaction-level locks end with their transaction; LISTEN is
    on the leadership's own connection)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class LazyPool:
    """An asyncpg pool created (and the schema migrated) by the first caller of `get()`."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> None:
        self.url = url
        self.min_size, self.max_size = min_size, max(min_size, max_size)
        self.kwargs = kwargs
        self._pool: asyncpg.Pool | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> asyncpg.Pool:
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
                self._pool = await asyncpg.create_pool(self.url, min_size=self.min_size, max_size=self.max_size,
                                                       reset=_keep, **self.kwargs)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
