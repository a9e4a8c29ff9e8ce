"""Budgets, not waits: a turn (in practice, an order lookup on a slow Seller API) gets `seconds`.

Past its budget the buyer is told, in their language and the store's voice, that we are checking
and will write as soon as we know (`common.checking`); the channel shows that the bot is working
(`ShowsWorking` in ports.py; Telegram: "typing", renewed every few seconds; the terminal: a line)
until the turn ends. The turn
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
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

WORKING_EVERY = 4.0  # seconds; Telegram's "typing" shows for 5 s or until the bot's next message


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
        """Await `work`; if it is not done within the budget, `on_late()` runs once, then `working()`
        every `every` seconds until it is. `on_late` has finished before this returns (the buyer
        hears "checking" before the answer). A turn in time costs one timer, no task."""
        if self.seconds <= 0:
            return await work
        loop = asyncio.get_running_loop()
        notices: list[tuple[asyncio.Task, asyncio.Event]] = []

        def late() -> None:
            self._late[conversation] = False
            said = asyncio.Event()
            notices.append((loop.create_task(self._notices(conversation, said, on_late, working)), said))

        timer = loop.call_later(self.seconds, late)
        try:
            result = await work
        except BaseException:
            for task, _ in notices:
                task.cancel()
            raise
        finally:
            timer.cancel()
            if notices:
                self._late.pop(conversation, None)
        if notices:
            task, said = notices[0]
            try:
                await said.wait()
            finally:
                task.cancel()
        return result

    async def _notices(self, conversation: str, said: asyncio.Event, on_late: Callable[[], Awaitable[object]],
                       working: Callable[[], Awaitable[object]] | None) -> None:
        try:
            await _quietly(on_late, conversation)
        finally:
            said.set()
        while working is not None:
            await _quietly(working, conversation)
            await asyncio.sleep(self.every)


async def _quietly(call: Callable[[], Awaitable[object]], conversation: str) -> None:
    """A notice to the buyer must never break the turn it is about."""
    try:
        await call()
    except Exception:  # logged; the turn goes on
        log.exception("budget notice to %s failed", conversation)
