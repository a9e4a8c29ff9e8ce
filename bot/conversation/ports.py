"""What the conversation service needs from the outside: a channel to answer through, the turn
runner (engine + store + rendering), and the human handoff. Contracts only; implementations live
in bot/app.py (the turn), bot/telegram and bot/console.py (channels), bot/handoff (agents)."""

from __future__ import annotations

from typing import Any, Protocol

from bot.conversation.io import Inbound, Reply
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer, Event
from bot.engine.state import ConversationState
from bot.store.base import ConversationStore


class Channel(Protocol):
    """How the service reaches a buyer on one front end."""

    async def deliver(self, conversation: str, reply: Reply) -> None:
        """Send a turn's messages (texts, buttons) in order; mark each delivered or not in the store."""
        ...

    async def send_text(self, conversation: str, text: str) -> None:
        """A fixed text outside any turn (a refusal, the internal-error apology); best effort."""
        ...

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        """A file for the buyer (their transcript)."""
        ...


class ShowsWorking(Protocol):
    """What a channel may also offer (the service looks for `working`): showing the buyer that the bot
    works on their message, while a turn runs past its time budget (bot/conversation/budget.py)."""

    async def working(self, conversation: str) -> None:
        """Show it now (Telegram: the "typing" action, ~5 s; it is renewed); best effort, never raises."""
        ...


class Turns(Protocol):
    """One engine turn: store read, engine, rendering, actions, store write (bot/app.py: App)."""

    store: ConversationStore

    async def handle(self, chat_id: str, event: Event, buyer: Buyer, *, incoming: tuple[str, str] | None = None,
                     receipt: str | None = None) -> Reply: ...

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str: ...

    def language(self, state: ConversationState | None, buyer: Buyer) -> str:
        """The language to answer `buyer` in outside a turn."""
        ...


class HandoffPort(Protocol):
    """Human agents, as the conversation service sees them (bot/handoff implements it)."""

    available: bool  # False: nobody can take a handoff here (the service starts the `no_agent` flow)

    async def is_active(self, conversation: str) -> bool:
        """True while an agent owns the conversation (or the buyer is blocked): the bot stays silent."""
        ...

    async def start(self, conversation: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        """A flow (or the buyer) asked for a person: open or reuse the agents' thread, post the context card."""
        ...

    async def relay_from_buyer(self, conversation: str, inbound: Inbound) -> None:
        """Copy what the buyer sent (a new message or an edit) to the agents."""
        ...

    async def buyer_left(self, conversation: str) -> None:
        """The buyer typed /bot: leave the queue, the bot takes over again."""
        ...

    async def notify_action(self, conversation: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        """A flow asked the shop's staff for something (urge, cancel, return) without a handoff."""
        ...


class NoHandoff:
    """No agents configured: nobody to hand over to, nothing to relay."""

    available = False

    async def is_active(self, conversation: str) -> bool:
        return False

    async def start(self, conversation: str, buyer: Buyer, handoff: Handoff, state: ConversationState) -> None:
        return None

    async def relay_from_buyer(self, conversation: str, inbound: Inbound) -> None:
        return None

    async def buyer_left(self, conversation: str) -> None:
        return None

    async def notify_action(self, conversation: str, buyer: Buyer, action: Action, state: ConversationState) -> None:
        return None
