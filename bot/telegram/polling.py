"""Long polling: getUpdates in a loop, every batch stored before the next call confirms it.

PTB's Updater would turn each update into PTB objects before anyone looks at it. This loop asks
for the raw JSON instead, stores the batch in the inbox (one transaction; only then does the next
getUpdates, with the next offset, confirm it to Telegram), and hands each newly stored update on
(bot/telegram/dispatch.py: a buyer's plain text or press straight from its JSON, anything else
through PTB's handlers; one chat's updates one at a time, in arrival order).

Failures: network errors, timeouts, 5xx, flood waits and a failed store write are retried with a
growing pause (up to 30 s), the offset unchanged (Telegram resends what was not confirmed); a
rejected token stops polling with an error in the log, as PTB's Updater does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from typing import Any

from telegram import Update
from telegram.error import EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.store.base import ConversationStore
from bot.telegram.delivery import retry_seconds
from bot.telegram.dispatch import Dispatcher
from bot.telegram.inbox import store_raw

log = logging.getLogger(__name__)
READ_MARGIN = 10.0  # seconds a getUpdates answer may take beyond its long-poll timeout
MAX_PAUSE = 30.0

# getUpdates goes through the generic do_api_request on purpose (the raw JSON); PTB warns about that.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


class Poller:
    def __init__(self, application: Application, store: ConversationStore, dispatcher: Dispatcher, *,
                 timeout: int = 30) -> None:
        self.application = application
        self.store = store
        self.dispatcher = dispatcher
        self.timeout = timeout
        self.offset: int | None = None
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self.application.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def fetch(self) -> list[Any]:
        kwargs: dict[str, Any] = {"timeout": self.timeout, "allowed_updates": Update.ALL_TYPES}
        if self.offset is not None:
            kwargs["offset"] = self.offset
        result = await self.application.bot.do_api_request("getUpdates", api_kwargs=kwargs,
                                                           read_timeout=self.timeout + READ_MARGIN)
        return result if isinstance(result, list) else []

    async def _poll(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self.fetch()
                fresh = await store_raw(self.store, updates) if updates else set()
            except (InvalidToken, EndPointNotFound) as exc:
                log.error("getUpdates refused the bot token (%s): polling stopped", exc)
                return
            except Exception as exc:  # noqa: BLE001 - retried: nothing was confirmed
                failures += 1
                pause = min(MAX_PAUSE, 0.5 * 2 ** min(failures, 6))
                if isinstance(exc, RetryAfter):
                    pause = max(pause, retry_seconds(exc))
                log.warning("getUpdates failed (%s); retrying in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            ids = [u["update_id"] for u in updates if isinstance(u, dict) and type(u.get("update_id")) is int]
            if ids:
                self.offset = max(ids) + 1  # confirms this batch at the next call: it is stored
            for update in updates:
                if isinstance(update, dict) and f"tg:{update.get('update_id')}" in fresh:
                    self.dispatcher.start(update)  # a repeat of a stored update is not handled again
