"""The handoff's life in a running bot: start-up (the agents' group is usable, relays a crash
interrupted are sent again), the periodic job (outbox flush, re-announce unanswered handoffs), shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot.handoff.desk import Desk, HandoffSetupError
from bot.handoff.sessions import Sessions

log = logging.getLogger(__name__)


async def check_permissions(desk: Desk) -> dict[str, Any]:
    """Refuse to start unless the group is a forum where the bot is an admin that can manage topics."""
    problems: list[str] = []
    try:
        me = await desk.bot.get_me()
        chat = await desk.bot.get_chat(desk.group_id)
    except TelegramError as exc:
        raise HandoffSetupError(
            f"the bot cannot see the agents' group {desk.group_id} ({exc}): add the bot to the group "
            "and check AGENTS_CHAT_ID") from exc
    if chat.type != "supergroup" or not chat.is_forum:
        problems.append("topics are off in the agents' group: enable Topics in the group settings")
    member = await desk.bot.get_chat_member(desk.group_id, me.id)
    if member.status != ChatMemberStatus.ADMINISTRATOR:
        problems.append(f"the bot is not an administrator of the agents' group (status: {member.status}): "
                        "promote it with the 'Manage topics' right")
    elif not getattr(member, "can_manage_topics", False):
        problems.append("the bot is an administrator without the 'Manage topics' right: enable it")
    if problems:
        raise HandoffSetupError("human handoff cannot start: " + "; ".join(problems))
    return {"group": chat.title, "bot": me.username}


class Lifecycle:
    def __init__(self, desk: Desk, sessions: Sessions) -> None:
        self.desk = desk
        self.sessions = sessions
        self._task: asyncio.Task | None = None
        # Several processes (bot/store/pg_leader.py): only the leader runs the periodic job, and a
        # NOTIFY of a new relay wakes it before its period is over.
        self.leader: Callable[[], bool] = lambda: True
        self.wake = asyncio.Event()

    async def startup(self, *, background: bool = True) -> None:
        await check_permissions(self.desk)
        recovered = await self.desk.records.recover()
        if recovered:
            log.warning("%d relays were interrupted mid-send; sending them again", recovered)
        await self.desk.outbox.flush(force=True)
        if background:
            self.start_background()

    async def tick(self) -> None:
        if await self.desk.records.release_expired():  # several processes: one died mid-send
            log.warning("relays of a stopped process were interrupted mid-send; sending them again")
        await self.desk.outbox.flush()
        await self.sessions.check_unanswered()

    def start_background(self, interval: float | None = None) -> None:
        """Run `tick()` every `interval` seconds in an asyncio task of its own."""
        period = interval or self.desk.settings.handoff_check_seconds

        async def loop() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), period)
                self.wake.clear()
                if not self.leader():
                    continue
                try:
                    await self.tick()
                except Exception:  # the periodic job must survive one bad pass
                    log.exception("handoff periodic job")

        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(loop(), name="handoff-periodic")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # how it ended no longer matters
                await self._task
            self._task = None
