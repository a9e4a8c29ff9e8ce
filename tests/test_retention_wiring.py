"""Retention runs on its own in a running bot: App.start_retention purges the store and the
handoff records' old rows, and stops with the app."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from types import SimpleNamespace

from bot.handoff.records import TO_TOPIC
from bot.handoff.records_memory import MemoryHandoffRecords
from bot.handoff.wiring import purgers


async def test_the_running_app_purges_old_rows(app, settings):
    settings.retention_transcript_days = 1
    await app.store.add_incoming("old-buyer", "text", "давнее сообщение")
    await app.store.add_incoming("new-buyer", "text", "свежее сообщение")
    conn = sqlite3.connect(settings.store_path)
    with conn:
        conn.execute("UPDATE messages SET at = ? WHERE chat_id = 'old-buyer'", (time.time() - 3 * 86400,))
    conn.close()
    records = MemoryHandoffRecords()
    relay = await records.enqueue("b:1:1", "old-buyer", TO_TOPIC, "copy", {}, time.time() - 3 * 86400)
    assert relay is not None and await records.claim(relay)
    await records.mark_sent(relay, -100, 5, time.time() - 3 * 86400)
    await records.enqueue("b:1:2", "old-buyer", TO_TOPIC, "copy", {}, time.time() - 3 * 86400)  # newest: kept
    app.start_retention(purgers(SimpleNamespace(records=records), settings))

    async def purged() -> None:
        # Polls what the purge task writes: there is no event to await.
        while await app.store.transcript("old-buyer") or len(await records.relays()) > 1:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(purged(), 10)
    assert [e.text for e in await app.store.transcript("new-buyer")] == ["свежее сообщение"]


def test_no_records_or_keep_forever_means_no_handoff_purger(settings):
    assert purgers(SimpleNamespace(), settings) == []
    settings.retention_transcript_days = 0
    assert purgers(SimpleNamespace(records=MemoryHandoffRecords()), settings) == []


async def test_the_order_mirror_forgets_old_final_postings_in_the_leaders_rounds(settings, catalogs, clock):
    from bot.app import build_app, build_mirror
    from bot.orders.demo import seed
    from bot.orders.mirror.mirror import Mirror
    from bot.orders.mirror.store import MemoryMirrorStore, MirrorRow
    from bot.store.sqlite import SqliteStore
    from tests.fake_ozon import sample

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seed(settings.demo_orders_path, now=clock.now())
    store = MemoryMirrorStore()
    mirror = build_mirror(settings, store=store)  # MIRROR_KEEP_DAYS: the default
    assert isinstance(mirror, Mirror) and mirror.keep_days == settings.mirror_keep_days == 120
    long_ago = time.time() - 200 * 86400
    await store.commit([MirrorRow(sample("70000000-0007-1", status="delivered"), long_ago, long_ago),
                        MirrorRow(sample("70000000-0007-2", status="delivering"), long_ago, long_ago)], [])
    app = build_app(settings, catalogs=catalogs, clock=clock, orders=mirror, store=SqliteStore(settings.store_path))
    leading = [False]
    try:
        app.start_retention(every=0.02, leader=lambda: leading[0])
        await asyncio.sleep(0.2)
        assert await store.count() == 2, "another process leads: it purges, not this one"
        leading[0] = True

        async def purged() -> None:
            # Polls what the purge task deletes: there is no event to await.
            while await store.count() > 1:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        await asyncio.wait_for(purged(), 10)
        assert list(await store.get(["70000000-0007-1", "70000000-0007-2"])) == ["70000000-0007-2"]
    finally:
        await app.close()
