"""Budgets, not waits: a turn (in practice, an order lookup on a slow Seller API) gets `seconds`.

Past its budget the buyer is told, in their language and the store's voice, that we are checking
and will write as soon as we know (`common.checking`); the channel shows that the bot is working
(Telegram: "typing", renewed every few seconds; the terminal: a line) until the turn ends. The turn
itself is never cut short: it goes on, and its replies are delivered when it ends, as a follow-up
message that continues the flow exactly where an answer in time would have (the turn is one
transaction: state, replies and the update's receipt are saved together, only at its end).

While such a turn runs, the same buyer's next inputs wait behind it (the front ends keep one
buyer's inputs in order) and are handled after its replies; the first one that arrives is told
once that we are still checking and will answer it right after (`common.still_checking`).

A process that dies during the wait saved nothing of the turn: on Telegram its update is still in
the inbox without an outcome and start-up runs it again (the lookup is retried; a second
"checking" may be said if it is slow again). The terminal has no inbox: the buyer types again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

log = logging.getLogger(__name__)
T = TypeVar("T")

WORKING_EVERY = 4.0  # seconds; Telegram's "typing" shows for 5 s or until the bot's next message


@runtime_checkable
class ShowsWorking(Protocol):
    """A channel that can show the buyer that the bot is working on their message."""

    async def working(self, conversation: str) -> None:
        """Show it now (Telegram: the "typing" action, which lasts ~5 s); best effort, never raises."""
        ...


class Budget:
    """Runs turns within a time budget; knows which conversations are past theirs."""

    def __init__(self, seconds: float, *, every: float = WORKING_EVERY) -> None:
        if seconds < 0 or every <= 0:
            raise ValueError("the budget must be >= 0 seconds (0: no budget) and `every` > 0")
        self.seconds, self.every = seconds, every
        self._late: dict[str, bool] = {}  # conversations past their budget -> "still checking" said

    def late(self, conversation: str) -> bool:
        """True while a turn of this conversation runs past its budget."""
        return conversation in self._late

    def claim_still_checking(self, conversation: str) -> bool:
        """True once per late turn: the caller tells the buyer their new message waits."""
        if self._late.get(conversation) is False:
            self._late[conversation] = True
            return True
        return False

    async def run(self, conversation: str, work: Awaitable[T], *, on_late: Callable[[], Awaitable[object]],
                  working: Callable[[], Awaitable[object]] | None = None) -> T:
        """Await `work`; if it is not done within the budget, await `on_late()` once, then
        `working()` every `every` seconds until it is. Cancelling this cancels `work`."""
        task = asyncio.ensure_future(work)
        if self.seconds <= 0:
            return await task
        try:
            await asyncio.wait({task}, timeout=self.seconds)
            if task.done():
                return task.result()
            self._late[conversation] = False
            await _quietly(on_late, conversation)
            while not task.done():
                if working is not None:
                    await _quietly(working, conversation)
                await asyncio.wait({task}, timeout=self.every)
            return task.result()
        finally:
            self._late.pop(conversation, None)
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


async def _quietly(call: Callable[[], Awaitable[object]], conversation: str) -> None:
    """A notice to the buyer must never break the turn it is about."""
    try:
        await call()
    except Exception:  # logged; the turn goes on
        log.exception("budget notice to %s failed", conversation)
