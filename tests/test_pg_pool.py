"""The PostgreSQL connection pool (bot/store/pg_pool.py) on a real server: never more connections
than its size, waiting users served in turn, and a connection a user left broken never handed on."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.store.pg_pool import Pool


async def _backend_pids(pool: Pool, n: int) -> set[int]:
    pids: set[int] = set()
    for _ in range(n):
        pids.add(await pool.fetchval("SELECT pg_backend_pid()"))
    return pids


async def test_never_more_connections_than_its_size_and_waiters_served_in_turn(pg_url):
    pool = Pool(pg_url, max_size=3)
    busy, most, order = 0, 0, []

    async def user(i: int) -> None:
        nonlocal busy, most
        async with pool.acquire() as conn:
            busy += 1
            most = max(most, busy)
            order.append(i)
            await conn.execute("SELECT pg_sleep(0.02)")
            busy -= 1

    try:
        tasks = []
        for i in range(12):
            tasks.append(asyncio.create_task(user(i)))
            await asyncio.sleep(0)  # arrive in this order
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert most == 3
        # the first three open connections (in any order); the others waited and came in turn
        assert sorted(order[:3]) == [0, 1, 2] and order[3:] == list(range(3, 12)), "first come, first served"
        assert len(await _backend_pids(pool, 10)) == 1, "a free connection is reused, not reopened"
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_before_the_next_user(pg_url):
    pool = Pool(pg_url, max_size=1)
    try:
        await pool.execute("CREATE TABLE t (x int)")

        async def failing_user() -> None:
            async with pool.acquire() as conn:
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("the user failed mid-transaction")

        with pytest.raises(RuntimeError):
            await failing_user()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await pool.close()


async def test_a_user_cancelled_mid_statement_never_hands_its_connection_on(pg_url):
    pool = Pool(pg_url, max_size=1)
    try:
        first = await pool.fetchval("SELECT pg_backend_pid()")

        async def slow() -> None:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the only slot is free again, on a new connection that answers at once
        second = await asyncio.wait_for(pool.fetchval("SELECT pg_backend_pid()"), 5)
        assert second != first
    finally:
        await pool.close()


async def test_a_waiter_cancelled_in_the_queue_leaves_the_slot_to_the_next(pg_url):
    pool = Pool(pg_url, max_size=1)
    try:
        holder = await pool.acquire().__aenter__()
        use = pool.acquire()
        gone = asyncio.create_task(use.__aenter__())
        nxt = asyncio.create_task(pool.fetchval("SELECT 7"))
        await asyncio.sleep(0.05)
        gone.cancel()
        await pool.release(holder)
        assert await asyncio.wait_for(nxt, 5) == 7
    finally:
        await pool.close()


async def test_a_connection_the_server_closed_is_replaced(pg_url, pg_server):
    pool = Pool(pg_url, max_size=1)
    try:
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        pg_server.psql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError)):
            await pool.fetchval("SELECT 1")  # the caller learns of it (a buyer would hear "try later")
        assert await asyncio.wait_for(pool.fetchval("SELECT pg_backend_pid()"), 5) != pid
    finally:
        await pool.close()


async def test_closed_pool_refuses_new_users(pg_url):
    pool = Pool(pg_url, max_size=2)
    await pool.fetchval("SELECT 1")
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError):
        await pool.fetchval("SELECT 1")
