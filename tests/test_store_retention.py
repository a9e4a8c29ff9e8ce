"""Retention: the SQLite purge works in batches and lets the event loop run between them, stops at
the first young rows instead of reading the whole table; the loop purges at start and then
periodically, with extra purgers, and survives failures; the settings and their defaults."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from bot.store.base import Outgoing, Retention
from bot.store.retention import purge_once, run_retention
from bot.store.sqlite import SqliteStore

DAY = 86400.0
NOW = 1_800_000_000.0


def _messages(path, ats: list[float]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executemany("INSERT INTO messages (chat_id, direction, kind, text, meta, at) "
                     "VALUES (?, 'out', 'say', ?, '{}', ?)",
                     [(f"c{i % 50}", "x" * 100, at) for i, at in enumerate(ats)])
    conn.close()


async def test_a_big_purge_runs_in_batches_and_turns_go_on_meanwhile(tmp_path):
    path = tmp_path / "big.sqlite3"
    store = SqliteStore(path)
    _messages(path, [NOW - 200 * DAY] * 12_000 + [NOW - 10 * DAY] * 100)
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    async def turn() -> list[int]:
        await asyncio.sleep(0)
        return await store.save_turn("live", _state(), [Outgoing("say", "still answering")], [])

    task = asyncio.create_task(ticker())
    counts, ids = await asyncio.gather(store.purge(NOW, Retention(180, 0, 0, 0), batch=1000), turn())
    stop = True
    await task
    assert counts["messages"] == 12_000
    assert ticks >= 12, f"the event loop ran only {ticks} times during a purge of 12 batches"
    assert [e.id for e in await store.transcript("live")] == ids
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 101
    await store.close()


async def test_the_purge_stops_at_the_first_young_rows(tmp_path):
    """Rows are written in time order: a routine purge reads one batch, not the whole table."""
    path = tmp_path / "walk.sqlite3"
    store = SqliteStore(path)
    _messages(path, [NOW - 200 * DAY] * 10 + [NOW - DAY] * 30_000)
    writes = 0
    original = store._write

    async def counting(op):
        nonlocal writes
        writes += 1
        return await original(op)

    store._write = counting  # type: ignore[method-assign]
    assert (await store.purge(NOW, Retention(180, 0, 0, 0), batch=1000))["messages"] == 10
    assert writes == 1
    await store.close()


def _state():
    from bot.engine.state import ConversationState, Position

    return ConversationState(lang="ru", at=Position(flow="main_menu", version="v1", node="menu"))


class FakeStore:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[float, Retention]] = []
        self.fail_first = fail_first

    async def purge(self, now: float, retention: Retention) -> dict[str, int]:
        self.calls.append((now, retention))
        if self.fail_first and len(self.calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return {"messages": 2, "turn_events": 0, "actions": 0, "inbox": 1}


async def test_the_loop_purges_at_start_then_periodically_and_survives_failures(caplog):
    store = FakeStore(fail_first=True)
    settings = Settings(retention_transcript_days=30, retention_inbox_days=0, _env_file=None)  # type: ignore[call-arg]
    handoff_calls: list[float] = []

    async def handoff_purger(now: float) -> dict[str, int]:
        handoff_calls.append(now)
        return {"handoff_relays": 5}

    async def broken_purger(now: float) -> dict[str, int]:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="bot.store.retention")
    task = asyncio.create_task(run_retention(store, settings, every=0.01, clock=lambda: NOW,
                                             purgers=[broken_purger, handoff_purger]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(store.calls) == 1, "the first purge runs at start"
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(store.calls) >= 3 and len(handoff_calls) == len(store.calls)
    assert store.calls[0] == (NOW, Retention(transcript_days=30, analytics_days=365, actions_days=365, inbox_days=0))
    text = caplog.text
    assert "database is locked" in text and "boom" in text
    assert "deleted 5 from handoff_relays, 1 from inbox, 2 from messages" in text


async def test_one_round_adds_up_every_purger():
    async def more(now: float) -> dict[str, int]:
        return {"messages": 1, "handoff_notes": 4}

    counts = await purge_once(FakeStore(), Retention(), NOW, [more])
    assert counts == {"messages": 3, "turn_events": 0, "actions": 0, "inbox": 1, "handoff_notes": 4}


def test_retention_settings_and_their_defaults(monkeypatch):
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert Retention.from_settings(settings) == Retention(180, 365, 365, 7) == Retention()
    monkeypatch.setenv("RETENTION_TRANSCRIPT_DAYS", "0")
    monkeypatch.setenv("RETENTION_INBOX_DAYS", "1.5")
    assert Retention.from_settings(Settings(_env_file=None)) == Retention(0, 365, 365, 1.5)  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTION_ACTIONS_DAYS", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
