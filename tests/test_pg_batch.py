"""Group commit (bot/store/pg_batch.py): requests made together go in one call, each answered with
its own result; a failed call fails only its own requests; nothing waits for a batch to fill."""

from __future__ import annotations

import asyncio

import pytest

from bot.store.pg_batch import Batcher


class Recorder:
    def __init__(self, *, pause: float = 0.0, fail: set[int] | None = None) -> None:
        self.calls: list[list[int]] = []
        self.pause = pause
        self.fail = fail or set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        await asyncio.sleep(self.pause)
        if self.fail & set(items):
            raise RuntimeError("the statement failed")
        return [i * 10 for i in items]


async def test_requests_made_together_go_in_one_call_each_with_its_own_answer():
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    answers = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert answers == [i * 10 for i in range(20)]
    assert run.calls == [list(range(20))]


async def test_a_lone_request_is_sent_at_once():
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    assert await asyncio.wait_for(batcher.submit(1), 1) == 10
    assert await asyncio.wait_for(batcher.submit(2), 1) == 20
    assert run.calls == [[1], [2]]


async def test_requests_made_while_a_call_runs_go_together_in_the_next():
    run = Recorder(pause=0.05)
    batcher: Batcher[int, int] = Batcher(run, in_flight=1)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)  # the first call is running
    later = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert len(run.calls) == 1, "one call at a time"
    assert await first == 0 and [await f for f in later] == [10, 20, 30, 40, 50]
    assert run.calls == [[0], [1, 2, 3, 4, 5]]


async def test_batches_are_bounded():
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run, max_batch=4, in_flight=1)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(10))) == [i * 10 for i in range(10)]
    assert [len(c) for c in run.calls] == [4, 4, 2]


async def test_a_failed_call_fails_its_own_requests_only():
    run = Recorder(pause=0.02, fail={3})
    batcher: Batcher[int, int] = Batcher(run, in_flight=1)
    bad = [asyncio.ensure_future(batcher.submit(i)) for i in (3, 4)]
    await asyncio.sleep(0.005)
    good = asyncio.ensure_future(batcher.submit(5))
    for future in bad:
        with pytest.raises(RuntimeError, match="failed"):
            await future
    assert await good == 50


async def test_a_caller_that_gives_up_does_not_disturb_the_others():
    run = Recorder(pause=0.05)
    batcher: Batcher[int, int] = Batcher(run)
    quitter = asyncio.ensure_future(batcher.submit(1))
    stayer = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0.01)
    quitter.cancel()
    assert await stayer == 20
    assert await batcher.submit(3) == 30
