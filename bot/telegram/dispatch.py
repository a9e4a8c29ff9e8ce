"""Handing a stored update on, the same way for long polling and both webhook modes.

A buyer's plain text or button press goes straight from its JSON to `BuyerHandlers.on_raw`
(bot/telegram/raw.py: PTB's objects cost more CPU than the rest of the update's handling); anything
else through `Update.de_json` to PTB's handlers (the inbox gate and finisher included). Both go
through the per-chat update processor (bot/telegram/ordering.py), so one chat's updates run one at
a time, in arrival order. An update PTB cannot read gets the outcome "failed" (it stays stored).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.store.base import ConversationStore
from bot.telegram import raw
from bot.telegram.handlers import BuyerHandlers

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, application: Application, store: ConversationStore, handlers: BuyerHandlers) -> None:
        self.application = application
        self.store = store
        self.handlers = handlers

    def start(self, data: dict[str, Any]) -> None:
        """Start handling a newly stored update in a task of its own (polling, the embedded webhook)."""
        application = self.application
        fast = raw.read(data)
        if fast is not None:
            application.create_task(self._in_order(fast, self.handlers.on_raw(fast, application.bot)),
                                    name="telegram-buyer-update")
            return
        update = self._parse(data)
        if update is None:
            application.create_task(self._unreadable(data))
            return
        application.create_task(self._in_order(update, application.process_update(update)), update=update,
                                name="telegram-update")

    async def run(self, data: dict[str, Any], *, new: bool = True) -> None:
        """Handle a stored update now (the shared webhook answers only after it). `new=False`: its
        turn may have run already (a stopped process's update): PTB's path, whose inbox gate
        completes such a turn instead of running it again."""
        fast = raw.read(data) if new else None
        if fast is not None:
            await self._in_order(fast, self.handlers.on_raw(fast, self.application.bot))
            return
        update = self._parse(data)
        if update is None:
            await self._unreadable(data)
            return
        await self._in_order(update, self.application.process_update(update))

    def _in_order(self, update: object, coroutine: Awaitable[Any]) -> Awaitable[None]:
        return self.application.update_processor.process_update(update, coroutine)

    def _parse(self, data: dict[str, Any]) -> Update | None:
        try:
            return Update.de_json(data, self.application.bot)
        except Exception:  # one unreadable update must not stop the others
            log.exception("update %s is unreadable", data.get("update_id"))
            return None

    async def _unreadable(self, data: dict[str, Any]) -> None:
        await self.store.inbox_finish(f"tg:{data.get('update_id')}", "failed")
