"""One leader among processes sharing PostgreSQL (bot/store/pg_leader.py): exactly one leads, a
leader killed with -9 is replaced within about `check_every`, and a relay enqueued anywhere wakes
the listeners (NOTIFY)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time

from bot.handoff.records import TO_TOPIC
from bot.handoff.records_pg import PgHandoffRecords
from bot.settings import ROOT
from bot.store.pg_leader import LEADER_KEY, OUTBOX_CHANNEL, Leadership


async def _until(predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_one_leader_and_the_next_takes_over_when_it_stops(pg_url):
    # A key of this test's own: advisory locks are per database, and other tests' processes may
    # still compete for the bot's LEADER_KEY on the shared server.
    key = LEADER_KEY + 101
    a, b = Leadership(pg_url, check_every=0.1, key=key), Leadership(pg_url, check_every=0.1, key=key)
    a.start()
    await _until(a.is_leader, 5)
    b.start()
    await asyncio.sleep(0.5)
    assert a.is_leader() and not b.is_leader(), "one leader at a time"
    await a.stop()
    assert not a.is_leader()
    took = await _until(b.is_leader, 5)
    assert took < 1.0, f"the follower took {took:.2f} s to lead"
    await b.stop()


async def test_a_leader_killed_with_9_is_replaced_within_seconds(pg_url):
    child = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
        from bot.store.pg_leader import Leadership

        async def main():
            leader = Leadership({pg_url!r}, check_every=0.1)
            leader.start()
            while not leader.is_leader():
                await asyncio.sleep(0.01)
            print("leading", flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", child, stdout=asyncio.subprocess.PIPE)
    follower = Leadership(pg_url, check_every=0.2)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.decode().strip() == "leading"
        follower.start()
        await asyncio.sleep(0.6)
        assert not follower.is_leader(), "the child leads while it lives"
        os.kill(proc.pid, signal.SIGKILL)
        took = await _until(follower.is_leader, 10)
        assert took < 1.5, f"failover took {took:.2f} s (check_every 0.2 s)"
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
        await follower.stop()


async def test_an_enqueued_relay_wakes_every_listener(pg_url):
    heard: list[tuple[str, str]] = []
    listener = Leadership(pg_url, check_every=0.1, channels=[OUTBOX_CHANNEL],
                          on_notify=lambda channel, payload: heard.append((channel, payload)))
    listener.start()
    await _until(listener.is_leader, 5)  # connected and listening
    records = PgHandoffRecords(pg_url)
    await records.enqueue("k1", "7001", TO_TOPIC, "send", {"text": "x"}, 1.0)
    assert await records.enqueue("k1", "7001", TO_TOPIC, "send", {"text": "x"}, 1.0) is None
    await _until(lambda: heard, 5)
    await asyncio.sleep(0.2)
    assert heard == [(OUTBOX_CHANNEL, "7001")], "one NOTIFY per relay recorded, none for a duplicate"
    await records.close()
    await listener.stop()
