"""The agents' group, as PTB handlers filtered to it: commands, what agents write in a buyer's
topic (relayed to the buyer), edits, and the handoff's own buttons (buyers' ratings, "Seen").

Safety: only content from members of the agents' group, in a topic mapped to a buyer, is relayed;
the General topic and unknown topics are ignored; other bots and channels never are relayed.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.handoff import commands
from bot.handoff.commands import AgentCommands
from bot.handoff.desk import Desk
from bot.handoff.message_info import kind_of
from bot.handoff.notices import OUTCOME_PREFIX, SEEN_PREFIX, Notices
from bot.handoff.relay import Relay
from bot.handoff.sessions import RATING_PREFIX, Sessions

log = logging.getLogger(__name__)
CALLBACK_PREFIX = "ho:"  # the handoff's own buttons: ratings (ho:r:...), "Seen" (ho:s:...), outcomes (ho:o:...)


class GroupRouter:
    def __init__(self, desk: Desk, sessions: Sessions, relay: Relay, notices: Notices, agents: AgentCommands) -> None:
        self.desk, self.sessions, self.relay, self.notices, self.agents = desk, sessions, relay, notices, agents

    def install(self, application: Application) -> None:
        """The handoff's buttons (the buyer handlers leave "ho:" presses alone) and the group's messages
        and edits (the buyer handlers take private chats only). Both in group 0, like the buyers'."""
        group = filters.Chat(self.desk.group_id)

        async def on_button(update: Update, context: Any) -> None:
            await self.on_button(update)

        async def on_message(update: Update, context: Any) -> None:
            await self.on_message(update)

        application.add_handler(CallbackQueryHandler(on_button, pattern=f"^{CALLBACK_PREFIX}"))
        application.add_handler(MessageHandler(group & (filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE),
                                               on_message))

    async def on_button(self, update: Update) -> bool:
        query = update.callback_query
        data = (query.data or "") if query else ""
        handled = False
        try:
            if data.startswith(RATING_PREFIX) and query and query.message is not None:
                session_id, stars = data[len(RATING_PREFIX):].split(":")
                handled = await self.sessions.rated(query, int(session_id), int(stars))
            elif data.startswith(SEEN_PREFIX) and query and query.message is not None:
                handled = await self.notices.seen(query, int(data[len(SEEN_PREFIX):]))
            elif data.startswith(OUTCOME_PREFIX) and query and query.message is not None:
                handled = await self.notices.outcome(query, data[len(OUTCOME_PREFIX):])
        except ValueError:
            pass
        if not handled and query is not None:
            with contextlib.suppress(TelegramError):
                await query.answer()
        return handled

    async def on_message(self, update: Update) -> None:
        message = update.message or update.edited_message
        if message is None or message.chat.id != self.desk.group_id:
            return
        user = message.from_user
        sender = message.sender_chat
        if user is None or user.is_bot or (sender is not None and sender.id != self.desk.group_id):
            return  # channels, other bots: never relayed
        text = message.text or ""
        thread = message.message_thread_id if message.is_topic_message else None
        name = commands.command_name(text)
        if name == "diagnose" and update.message is not None:
            if await self.desk.is_member(user.id):
                await commands.diagnose(self.agents, thread, commands.command_arg(text))
            return
        if thread is None:
            return  # the General topic: nothing to relay
        topic = await self.desk.records.topic_by_thread(thread)
        if topic is None:
            return  # a topic no buyer owns (or an old one): ignored
        if not await self.desk.is_member(user.id):
            log.warning("ignoring a message from %s: not a member of the agents' group", user.id)
            return
        if name is not None:
            if update.message is not None:
                await commands.run(self.agents, topic.chat_id, thread, message, name, commands.command_arg(text))
            return
        if not kind_of(message):
            return  # service messages (topic renamed, pinned, ...)
        await self._relay(update, topic.chat_id, message)

    async def _relay(self, update: Update, chat_id: str, message: Message) -> None:
        if update.edited_message is not None:
            await self.relay.agent_edit(chat_id, message)
        else:
            await self.relay.from_agent(chat_id, message)
