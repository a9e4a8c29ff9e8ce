"""The handoff for buyers in Ozon chat: the same forum topics as Telegram buyers.

- Agents' replies in a buyer's topic go back through `/v1/chat/send/message` (`OzonBuyerSender`,
  plugged into the handoff outbox for `oz:` conversations): moderation-safe, split, inside Ozon's
  reply window, else the agents are told why it did not go (the outbox's failure report).
- What the bot could not send (outside the window, refused by Ozon) becomes a note in the buyer's
  topic (`topic_note`), not an error.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bot.conversation.ports import HandoffPort
from bot.engine.events import Buyer
from bot.handoff.card import cut
from bot.handoff.desk import Resume
from bot.handoff.outbox import Permanent
from bot.handoff.records import TO_TOPIC, Relay
from bot.ozonchat.channel import READ_ONLY, Note, NotSent, OzonChatChannel
from bot.ozonchat.inbound import PREFIX
from bot.ozonchat.rules import moderation_safe, split_text

log = logging.getLogger(__name__)
NOTE_SNIPPET = 1500  # characters of an unsent text shown to agents
SYSTEM_ONLY_TELEGRAM = ("rate:",)  # relays that need Telegram buttons: not sent in Ozon chat


class OzonBuyerSender:
    """Delivers the handoff outbox's relays to a buyer in Ozon chat (an `Outbox.buyer_senders` entry)."""

    def __init__(self, channel: OzonChatChannel) -> None:
        self.channel = channel

    async def __call__(self, relay: Relay) -> int | None:
        p = relay.payload
        if relay.op in ("edit", "edit_caption"):
            raise Permanent("Ozon chat cannot change a message already sent: write a new one")
        if relay.key.startswith(SYSTEM_ONLY_TELEGRAM):
            return None  # the 1-5 rating needs buttons; Ozon chat has none, the buyer is not asked
        if relay.op == "send":
            text = str(p.get("text") or "")
        elif p.get("kind", "text") == "text":
            text = str(p.get("summary") or "")
        else:
            raise Permanent("files from the topic cannot reach Ozon chat: send the text, or the file from "
                            "the seller's cabinet")
        if not text.strip():
            return None
        if not self.channel.writable and not relay.key.startswith("a:"):
            return None  # read-only: the bot's own notices stay unsent; agents answer in the cabinet
        try:
            await self.channel.send_chunks(relay.chat_id, split_text(moderation_safe(text)))
        except NotSent as exc:
            if exc.reason == READ_ONLY:
                raise Permanent("the shop cannot write in Ozon chat through the API (no Premium Plus/Pro "
                                "subscription): answer in the seller's cabinet") from exc
            raise Permanent(str(exc)) from exc
        return None


def topic_note(handoff: HandoffPort) -> Note | None:
    """A note in the buyer's topic (created with the card when there is none), or None without agents."""
    desk: Any = getattr(handoff, "desk", None)
    if desk is None:
        return None

    async def note(conversation: str, msgid: str, params: dict[str, str]) -> None:
        shown = {k: cut(v, NOTE_SNIPPET) if k == "text" else v for k, v in params.items()}
        text = "⚠️ " + desk.texts.t(msgid, **shown)
        digest = hashlib.sha256(f"{msgid}\x1f{params.get('text', '')}".encode()).hexdigest()[:16]
        await desk.send(f"oznote:{conversation}:{digest}:{int(desk.now())}", conversation, TO_TOPIC, text,
                        html_mode=True)
        await desk.outbox.flush(conversation)

    return note


def attach(handoff: HandoffPort, channel: OzonChatChannel, resume: Resume | None = None) -> None:
    """Agents' replies to `oz:` buyers go out through `channel`; an agent's /flow puts an `oz:` buyer
    back into a flow through `resume` (the Ozon adapter's conversation service), others as before."""
    desk: Any = getattr(handoff, "desk", None)
    if desk is not None:
        desk.outbox.buyer_senders[PREFIX] = OzonBuyerSender(channel)
    commands: Any = getattr(handoff, "agents", None)
    if commands is None or resume is None:
        return
    other: Resume | None = commands.resume

    async def by_channel(chat_id: str, buyer: Buyer, flow_id: str) -> Any:
        if chat_id.startswith(PREFIX):
            return await resume(chat_id, buyer, flow_id)
        if other is not None:
            return await other(chat_id, buyer, flow_id)
        return None

    commands.resume = by_channel
