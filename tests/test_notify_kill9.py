"""kill -9 of the proactive sender in the middle of a drain: a fresh process sends the rest. Nothing
is lost; only a message caught between the fake accepting it and the sender recording it ("in
flight": at most `concurrency`, in practice one) can be sent a second time (the Bot API has no
idempotency key); no 429 from the limits, also right after the restart (each chat keeps its pace)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.fake_limited import LimitedTelegram

ROOT = Path(__file__).resolve().parent.parent
# bench/notify.py, loaded by path (bench/ on sys.path would shadow packages: it has a telegram.py)
_spec = importlib.util.spec_from_file_location("bench_notify", ROOT / "bench" / "notify.py")
assert _spec is not None and _spec.loader is not None
notify_bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_notify"] = notify_bench
_spec.loader.exec_module(notify_bench)

ENABLED = os.environ.get("KILL9", "1") != "0"
pytestmark = pytest.mark.skipif(not ENABLED, reason="KILL9=0: crash tests skipped")


async def test_kill9_mid_drain_loses_nothing(tmp_path) -> None:
    messages, chats = 400, 100
    db = str(tmp_path / "n.sqlite3")
    await notify_bench.fill(db, messages, chats)
    async with LimitedTelegram(per_second=100, chat_seconds=1.0) as fake:
        fake.record_calls = False
        child = notify_bench.spawn(db, fake.api_base, 90, 1.1)
        try:
            async def half() -> None:
                while len(fake.accepted_at) < messages // 2:
                    assert child.poll() is None, "the sender ended before the kill"
                    await asyncio.sleep(0.001)

            await asyncio.wait_for(half(), 60)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        in_flight = notify_bench.sending(db)
        assert len(fake.accepted_at) < messages, "killed in the middle"
        child = notify_bench.spawn(db, fake.api_base, 90, 1.1)
        figures = await notify_bench.wait_child(child, 90)
    counts = Counter(t for texts in fake.delivered.values() for t in texts)
    lost = [i for i in range(messages) if counts[f"n{i}"] == 0]
    twice = sum(c - 1 for c in counts.values() if c > 1)
    assert lost == []
    assert twice <= in_flight <= 8, (twice, in_flight)
    assert fake.too_many == 0
    assert figures["sent"] >= messages // 2 - in_flight
