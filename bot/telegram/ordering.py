"""Updates from different chats run concurrently; updates from one chat strictly in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.telegram.raw import RawUpdate


def chat_key(update: object) -> object:
    if isinstance(update, RawUpdate):  # a buyer's text or press read from the JSON: the same chat's key
        return update.chat_id
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None:
            return chat.id
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """A FIFO lock per chat. PTB creates one task per update in arrival order and each task takes
    its chat's lock before its first await, so one chat's updates run in arrival order."""

    def __init__(self, max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, asyncio.Lock] = {}
        self._users: dict[object, int] = {}
        # Told (in a task of its own, so the order above holds) of an update that has to wait for
        # its chat's previous one: a buyer's turn past its time budget says "still checking".
        self.on_queued: Callable[[object], Awaitable[None]] | None = None
        self._notices: set[asyncio.Task] = set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        elif lock.locked() and self.on_queued is not None:
            notice = asyncio.ensure_future(self.on_queued(update))
            self._notices.add(notice)
            notice.add_done_callback(self._notices.discard)
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # nobody waiting: forget the lock, memory stays flat
                del self._users[key]
                del self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
