"""Retention: a loop that purges what the settings no longer keep, once at start and then
periodically. The store purges its own tables (`ConversationStore.purge`); other owners of records
(the handoff's, later) join as extra purgers: `async (now) -> {table: rows deleted}`.

A purge failing is logged and tried again at the next round: retention never stops the bot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.store.base import ConversationStore, Retention

log = logging.getLogger(__name__)

Purger = Callable[[float], Awaitable[dict[str, int]]]
DAY = 86400.0


async def purge_once(store: ConversationStore, retention: Retention, now: float,
                     purgers: Sequence[Purger] = ()) -> dict[str, int]:
    """One round: the store, then each extra purger; rows deleted per table. A failing purger is
    logged and skipped (the others still run)."""
    counts: dict[str, int] = {}
    jobs: list[Purger] = [lambda t: store.purge(t, retention), *purgers]
    for job in jobs:
        try:
            for table, n in (await job(now)).items():
                counts[table] = counts.get(table, 0) + n
        except Exception:
            log.exception("retention: a purge failed; the next round tries again")
    deleted = {table: n for table, n in counts.items() if n}
    if deleted:
        log.info("retention: deleted %s", ", ".join(f"{n} from {table}" for table, n in sorted(deleted.items())))
    else:
        log.debug("retention: nothing to delete")
    return counts


async def run_retention(store: ConversationStore, settings: Any, *, every: float = DAY / 24,
                        clock: Callable[[], float] = time.time, purgers: Sequence[Purger] = (),
                        leader: Callable[[], bool] | None = None) -> None:
    """Purge at once, then every `every` seconds, until cancelled. `settings` carries the
    RETENTION_* settings (bot.settings.Settings); `clock` gives UNIX seconds. With `leader` (several
    processes on one database), a round runs only in the process that leads at that moment."""
    retention = Retention.from_settings(settings)
    while True:
        try:
            if leader is None or leader():
                await purge_once(store, retention, clock(), purgers)
        except Exception:  # the clock or the settings; never end the loop
            log.exception("retention: round failed")
        await asyncio.sleep(every)
