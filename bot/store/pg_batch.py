"""Group commit for small independent writes: what many tasks ask for at once goes to PostgreSQL
as one statement.

Each round trip to the server costs both sides more CPU than a small statement itself (~40 us in
the bot, ~70 us in the server on the bench machine, bench/pg.py). The webhook stores and claims
every update, and records every update's outcome, in statements that do not depend on each other:
`Batcher.submit` queues such a request, and one flush runs all the requests queued meanwhile in one
statement, each request answered with its own result. Nothing waits for a batch to fill: a flush
starts as soon as the event loop is free and none is running, so a quiet bot pays nothing and a
busy one sends one statement where it sent dozens.

A flush that fails fails each of its requests with the same error (each caller handles it as it
would its own statement's failure); the next flush is not affected.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`run(items)` answers a list of results in the items' order; at most `in_flight` runs at once."""

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 500,
                 in_flight: int = 1) -> None:
        self._run = run
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # flushes run so far (tests, figures)

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._kick()
        return await future

    def _kick(self) -> None:
        if self._queue and not self._scheduled and self._running < self.in_flight:
            self._scheduled = True
            # after the callbacks already due (requests arriving in this loop iteration join), in a
            # context of its own (never the submitter's: a store turn's connection is in it)
            asyncio.get_running_loop().call_soon(self._start, context=contextvars.Context())

    def _start(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._queue and self._running < self.in_flight:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            self._running += 1
            task = loop.create_task(self._flush(batch), name="pg-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:  # each request fails as its own statement would have
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self.batches += 1
            self._running -= 1
            self._kick()
