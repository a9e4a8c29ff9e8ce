"""TelegramHandoff: the HandoffPort (bot/conversation/ports.py) for a Telegram forum supergroup.

    handoff = TelegramHandoff(app, None, settings)
    handoff.install(application, resume)   # the agents' group router and the handoff's buttons
    await handoff.startup()                # check the group, resend interrupted relays, periodic job
    ...
    await handoff.shutdown()

It only assembles the parts, each with one responsibility: `desk` (what they share), `sessions`
(who owns a conversation: start, close, /bot, re-announce, topic recreation), `relay` (messages
both ways), `notices` (requests to staff, "Seen"), `commands` (agents' commands), `group_router`
(PTB handlers for the agents' group), `lifecycle` (start-up, periodic job, shutdown).
"""

from __future__ import annotations

from typing import Any

from telegram import Bot

from bot.conversation.io import Inbound
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer
from bot.engine.ports import Clock
from bot.engine.state import ConversationState
from bot.handoff.commands import AgentCommands
from bot.handoff.desk import Desk, HandoffSetupError, Resume
from bot.handoff.group_router import GroupRouter
from bot.handoff.lifecycle import Lifecycle, check_permissions
from bot.handoff.notices import Notices
from bot.handoff.records import HandoffRecords
from bot.handoff.relay import Relay
from bot.handoff.sessions import Sessions
from bot.settings import Settings

__all__ = ["HandoffSetupError", "TelegramHandoff"]


class TelegramHandoff:
    available = True  # agents answer (outside working hours the buyer is told when)

    def __init__(self, app: Any, bot: Bot | None, settings: Settings, *, clock: Clock | None = None,
                 records: HandoffRecords | None = None, resume: Resume | None = None) -> None:
        self.desk = Desk(app, bot, settings, clock=clock, records=records)
        self.sessions = Sessions(self.desk)
        self.relay = Relay(self.desk)
        self.notices = Notices(self.desk)
        self.agents = AgentCommands(self.desk, self.sessions, resume)
        self.router = GroupRouter(self.desk, self.sessions, self.relay, self.notices, self.agents)
        self.lifecycle = Lifecycle(self.desk, self.sessions)

    @property
    def records(self) -> HandoffRecords:
        return self.desk.records

    # ---- the port -----------------------------------------------------------------------------
    async def is_active(self, chat_id: str) -> bool:
        return await self.sessions.is_active(chat_id)

    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        await self.sessions.start(chat_id, buyer, handoff, state)

    async def relay_from_buyer(self, chat_id: str, inbound: Inbound) -> None:
        await self.relay.from_buyer(chat_id, inbound)

    async def buyer_left(self, chat_id: str) -> None:
        await self.sessions.buyer_left(chat_id)

    async def notify_action(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        await self.notices.notify(chat_id, buyer, action, state)

    async def post_to_agents(self, text: str) -> None:
        """An HTML notice for the agents' General topic (e.g. a refused flow edit); best effort."""
        await self.desk.reply_in_topic(None, text)

    # ---- in a running bot ---------------------------------------------------------------------
    def install(self, application: Any, resume: Resume | None = None) -> None:
        """Use the Application's Bot, route the agents' group, resume buyers through `resume` (/flow)."""
        self.desk.bind(application.bot)
        if resume is not None:
            self.agents.resume = resume
        self.router.install(application)

    async def check_permissions(self) -> dict[str, Any]:
        return await check_permissions(self.desk)

    async def startup(self, *, background: bool = True) -> None:
        await self.lifecycle.startup(background=background)

    def start_background(self, interval: float | None = None) -> None:
        self.lifecycle.start_background(interval)

    async def tick(self) -> None:
        await self.lifecycle.tick()

    async def flush_outbox(self, *, force: bool = False) -> int:
        return await self.desk.outbox.flush(force=force)

    async def check_unanswered(self) -> list[int]:
        return await self.sessions.check_unanswered()

    async def shutdown(self) -> None:
        await self.lifecycle.shutdown()
