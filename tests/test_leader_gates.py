"""Jobs that must run once for all processes ask the leader (bot/store/pg_leader.py) before each
round: the handoff's periodic job (woken early by a NOTIFY), retention, the order mirror's sync."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bot.handoff.lifecycle import Lifecycle
from bot.push.service import MirrorService
from bot.settings import Settings
from bot.store.retention import run_retention


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, *args, **kwargs):
        self.calls += 1
        return 0


async def test_the_handoff_job_runs_only_on_the_leader_and_a_wake_runs_it_at_once():
    ticks = Counting()
    desk = SimpleNamespace(settings=SimpleNamespace(handoff_check_seconds=3600.0),
                           records=SimpleNamespace(release_expired=Counting()), outbox=SimpleNamespace(flush=ticks))
    lifecycle = Lifecycle(desk, SimpleNamespace(check_unanswered=Counting()))  # type: ignore[arg-type]
    leading = False
    lifecycle.leader = lambda: leading
    lifecycle.start_background()
    lifecycle.wake.set()
    await asyncio.sleep(0.05)
    assert ticks.calls == 0, "a follower never runs the job, woken or not"
    leading = True
    lifecycle.wake.set()  # a NOTIFY: long before the hour-long period is over
    await asyncio.sleep(0.05)
    assert ticks.calls == 1
    await lifecycle.shutdown()


async def test_retention_purges_only_while_leading():
    purges = Counting()
    store = SimpleNamespace(purge=lambda now, retention: purges())
    leading = [False]
    task = asyncio.create_task(run_retention(store, Settings(_env_file=None), every=0.01,  # type: ignore[call-arg]
                                             leader=lambda: leading[0]))
    await asyncio.sleep(0.1)
    assert purges.calls == 0
    leading[0] = True
    await asyncio.sleep(0.1)
    assert purges.calls >= 1
    task.cancel()


async def test_the_mirror_syncs_only_on_the_leader():
    syncs = Counting()

    async def sync():
        await syncs()
        return SimpleNamespace(mode="incremental", read=0, changes=0, kinds={})

    mirror = SimpleNamespace(sync=sync, sync_wanted=asyncio.Event())
    service = MirrorService(mirror, sync_every=3600.0)  # type: ignore[arg-type]
    leading = [False]
    service.leader = lambda: leading[0]
    await service.start()
    await asyncio.sleep(0.2)
    assert syncs.calls == 0
    leading[0] = True
    await asyncio.sleep(1.3)  # a follower looks again every second
    assert syncs.calls == 1
    await service.stop()
