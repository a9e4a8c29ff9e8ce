"""The two updates buyers send most, read straight from the update's JSON: a text in a private
chat and a button press in one. Everything else goes through PTB's `Update.de_json` and handlers.

PTB turns every update into objects (Update, Message, User, Chat, with every optional field and
dates converted): ~90 us of CPU an update on this machine (py-spy, bench/telegram.py), for the
dozen fields a buyer's text or press needs. An update that is not exactly one of those two shapes,
or that does not look as the Bot API documents it, is left to PTB, which handles it as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversation.io import Inbound, SourceRef
from bot.engine.events import Buyer, Text
from bot.handoff.group_router import CALLBACK_PREFIX as HANDOFF_BUTTONS
from bot.telegram.commands import command_event, parse_command
from bot.telegram.inbound import LinkVerifier, needs_node, press_event


@dataclass(frozen=True, slots=True)
class RawUpdate:
    """A buyer's text (`message`) or button press (`query`) in a private chat, as the Bot API sent it."""

    update_id: int
    chat_id: int
    user: dict[str, Any]
    message: dict[str, Any] | None = None
    query: dict[str, Any] | None = None

    @property
    def receipt(self) -> str:
        return f"tg:{self.update_id}"

    @property
    def buyer(self) -> Buyer:
        user = self.user
        first, last = user.get("first_name") or "", user.get("last_name")
        return Buyer(id=str(self.chat_id), language_code=user.get("language_code") or "",
                     name=f"{first} {last}" if last else first)

    @property
    def hashed_press(self) -> bool:
        """A press whose node travels as a hash: it needs the buyer's current node to resolve."""
        return self.query is not None and needs_node(self.query.get("data"))


def _private_chat_id(holder: Any) -> int | None:
    chat = holder.get("chat") if isinstance(holder, dict) else None
    if isinstance(chat, dict) and chat.get("type") == "private" and type(chat.get("id")) is int:
        return chat["id"]
    return None


def _user(holder: dict[str, Any]) -> dict[str, Any] | None:
    user = holder.get("from")
    return user if isinstance(user, dict) and type(user.get("id")) is int else None


def read(raw: dict[str, Any]) -> RawUpdate | None:
    """The update as a RawUpdate when it is a plain private text or press; None: PTB handles it."""
    update_id = raw.get("update_id")
    if type(update_id) is not int or len(raw) != 2:
        return None
    message = raw.get("message")
    if message is not None:
        chat_id = _private_chat_id(message)
        text = message.get("text") if isinstance(message, dict) else None
        user = _user(message) if chat_id is not None else None
        if (user is None or not isinstance(text, str) or not text or type(message.get("message_id")) is not int
                or "edit_date" in message):
            return None
        return RawUpdate(update_id, chat_id, user, message=message)  # type: ignore[arg-type]
    query = raw.get("callback_query")
    if isinstance(query, dict):
        chat_id = _private_chat_id(query.get("message"))
        data, user = query.get("data"), _user(query)
        if (chat_id is None or user is None or not isinstance(data, str) or data.startswith(HANDOFF_BUTTONS)
                or not isinstance(query.get("id"), str)):
            return None
        return RawUpdate(update_id, chat_id, user, query=query)
    return None


def text_inbound(update: RawUpdate, verify_link: LinkVerifier | None) -> Inbound:
    """What `inbound.message_inbound` makes of the same text message."""
    message = update.message
    assert message is not None
    text: str = message["text"]
    reply = message.get("reply_to_message")
    reply_to = reply.get("message_id") if isinstance(reply, dict) else None
    ref = SourceRef(update.chat_id, message["message_id"], None, reply_to)
    parsed = parse_command(text)
    if parsed is not None:
        event, kind = command_event(parsed[0], parsed[1], verify_link), "command"
    else:
        event, kind = Text(text), "text"
    return Inbound(conversation=str(update.chat_id), buyer=update.buyer, event=event, kind=kind, text=text,
                   receipt=update.receipt, ref=ref, summary=text)


def press_inbound(update: RawUpdate, node_now: str) -> Inbound:
    """What `inbound.press_inbound` makes of the same press."""
    assert update.query is not None
    press, text = press_event(update.query.get("data"), node_now)
    return Inbound(conversation=str(update.chat_id), buyer=update.buyer, event=press, kind="press", text=text,
                   receipt=update.receipt)
