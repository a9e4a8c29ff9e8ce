"""What the buyer-side Telegram adapter needs from the handoff service.

The Telegram adapter (bot/telegram/) calls these hooks; bot/handoff/ implements them for a forum
supergroup. `NoHandoff` is the default when no agents' group is configured.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer
from bot.engine.state import ConversationState


class HandoffPort(Protocol):
    available: bool  # False: nobody can take a handoff here (the adapter then starts the `no_agent` flow)

    async def is_active(self, chat_id: str) -> bool:
        """True while an agent owns the conversation: the engine stays silent, messages are relayed."""
        ...

    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        """A flow (or the buyer) asked for a person: open/reuse the topic, post the context card."""
        ...

    async def relay_from_buyer(self, chat_id: str, message: Any) -> None:
        """Copy a buyer's Telegram message (text, media, voice...) into their topic."""
        ...

    async def buyer_left(self, chat_id: str) -> None:
        """The buyer typed /bot: leave the queue, the bot takes over again."""
        ...

    async def notify_action(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        """A flow asked the seller's staff for something (urge, cancel, return) without a handoff."""
        ...

    async def handle_group_update(self, update: Any) -> bool:
        """An update from the agents' group. True when it was handled."""
        ...


class NoHandoff:
    """No agents' group configured: nobody to hand over to, nothing to relay."""

    available = False

    async def is_active(self, chat_id: str) -> bool:
        return False

    async def start(self, chat_id: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        return None

    async def relay_from_buyer(self, chat_id: str, message: Any) -> None:
        return None

    async def buyer_left(self, chat_id: str) -> None:
        return None

    async def notify_action(self, chat_id: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        return None

    async def handle_group_update(self, update: Any) -> bool:
        return False
