"""Plugging the handoff into the Telegram adapter's life cycle (bot/telegram/run.py).

    handoff = handoff_for(app, settings)                    # NoHandoff when AGENTS_CHAT_ID is unset
    application = build_telegram(app, settings, handoff=handoff, ...)
    attach(handoff, application)                            # before the Application starts
    ... after application.initialize():
    await start(handoff)      # raises HandoffSetupError (one clear sentence) when the group is unusable
    ... on the way out:
    await stop(handoff)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.conversation.ports import HandoffPort, NoHandoff
from bot.engine.ports import Clock
from bot.settings import Settings


def handoff_for(app: Any, settings: Settings, *, clock: Clock | None = None) -> HandoffPort:
    if settings.agents_chat_id is None:
        return NoHandoff()
    from bot.handoff.service import TelegramHandoff

    return TelegramHandoff(app, None, settings, clock=clock)


def attach(handoff: HandoffPort, application: Any, resume: Any = None) -> None:
    """Install the handoff's Telegram handlers; `resume` puts a buyer back into a flow (agents' /flow)."""
    install = getattr(handoff, "install", None)
    if install is not None:
        install(application, resume)


async def start(handoff: HandoffPort) -> None:
    """Permissions check, then the outbox left by the last run, then the periodic job."""
    startup = getattr(handoff, "startup", None)
    if startup is not None:
        await startup()


async def stop(handoff: HandoffPort) -> None:
    shutdown = getattr(handoff, "shutdown", None)
    if shutdown is not None:
        await shutdown()


def purgers(handoff: HandoffPort, settings: Settings) -> list[Callable[[float], Awaitable[dict[str, int]]]]:
    """The handoff records' share of retention: relays, notes and notices older than the transcripts kept."""
    records = getattr(handoff, "records", None)
    days = settings.retention_transcript_days
    if records is None or not days:
        return []

    async def purge(now: float) -> dict[str, int]:
        return await records.purge(now - days * 86400)

    return [purge]


def leadership(handoff: HandoffPort, settings: Settings) -> Any:
    """Several processes on PostgreSQL (DATABASE_URL): the `Leadership` (bot/store/pg_leader.py) that
    lets one process run the handoff's periodic job (outbox backlog, re-announcements) and retention,
    woken by NOTIFY when a relay is enqueued in any process. None for the embedded database. Not
    started: the caller starts and stops it."""
    from bot.store.backend import database_url

    url = database_url(settings)
    if url is None:
        return None
    from bot.store.pg_leader import OUTBOX_CHANNEL, Leadership

    lifecycle = getattr(handoff, "lifecycle", None)

    def heard(channel: str, payload: str) -> None:
        if lifecycle is not None and leader.is_leader():
            lifecycle.wake.set()

    leader = Leadership(url, check_every=settings.leader_check_seconds, channels=[OUTBOX_CHANNEL], on_notify=heard)
    if lifecycle is not None:
        lifecycle.leader = leader.is_leader
    return leader
