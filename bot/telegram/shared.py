"""Several bot processes behind one webhook address, on one PostgreSQL database (DATABASE_URL).

Telegram posts a chat's next update only after the bot answered the previous one 2xx, so the
webhook answers only once the update is handled: its turn is durable and its replies are sent.
The next update of the chat, whichever process the load balancer gives it to, then finds the new
state. A button press (queued per user by Telegram) can still race a typed message (queued per chat):
the store's turn lock serialises the two turns, and a press that arrives for a step the buyer has
left gets the current step shown again (the engine's stale-button rule).

Every update is stored in the inbox first (keyed by update_id: a repeat is never stored twice), then
claimed with a lease (`DATABASE_LEASE_SECONDS`): while the lease runs the update is that process's, and
a repeat posted to another process (Telegram retrying after a timeout) is answered 503, so Telegram
tries again later. When the holder dies (kill -9), its lease runs out and the next retry is handled
by a live process: an update still "new" runs its turn; one already "turned" has its undelivered
replies sent and its follow-ups run (bot/telegram/inbox.py's gate), never the turn again.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.store.base import INBOX_BUSY, INBOX_NEW, INBOX_TURNED, SharedInbox
from bot.telegram.dispatch import Dispatcher
from bot.telegram.inbox import items_of

log = logging.getLogger(__name__)


class SharedWebhook:
    """The webhook's handling of one update when several processes share the store."""

    def __init__(self, dispatcher: Dispatcher, inbox: SharedInbox, lease: float) -> None:
        self.dispatcher = dispatcher
        self.inbox = inbox
        self.lease = lease

    async def __call__(self, data: dict) -> web.Response:
        items = items_of([data])
        if not items:
            return web.Response(status=400, text="bad update")
        key = items[0].key
        # durable first (a repeat is kept as it is), and this process's while the lease runs
        status = await self.inbox.inbox_store_claim(items[0], self.lease)
        if status == INBOX_BUSY:
            return web.Response(status=503, text="being handled by another process")
        if status not in (INBOX_NEW, INBOX_TURNED):
            return web.Response(text="ok")  # handled before: a repeat
        try:
            await self.dispatcher.run(data, new=status == INBOX_NEW)
            finished = await self.inbox.inbox_status(key) not in (INBOX_NEW, INBOX_TURNED)
        finally:
            await self.inbox.inbox_release(key)  # an unfinished row: a retry may take it at once
        if not finished:
            log.warning("update %s not finished; asking Telegram to send it again", key)
            return web.Response(status=500, text="not handled, send again")
        return web.Response(text="ok")


async def recover_shared(dispatcher: Dispatcher, inbox: SharedInbox, lease: float) -> int:
    """Start-up with other processes running: handle, in arrival order, the stored updates nobody
    holds (their process died), never one another live process is handling. How many."""
    store = dispatcher.store
    handled = 0
    for item in await store.inbox_pending():
        if not item.key.startswith("tg:"):  # other channels replay their own
            continue
        try:
            status = await inbox.inbox_claim(item.key, lease)
            if status not in (INBOX_NEW, INBOX_TURNED):
                continue
            try:  # a "turned" one through PTB's gate, which completes it
                await dispatcher.run(json.loads(item.payload), new=status == INBOX_NEW)
            finally:
                await inbox.inbox_release(item.key)
            handled += 1
        except Exception:  # one bad stored update must not stop the others
            log.exception("replaying %s", item.key)
            await store.inbox_finish(item.key, "failed")
    if handled:
        log.warning("start-up: %d stored updates of a stopped process had no outcome yet; handled them", handled)
    return handled
