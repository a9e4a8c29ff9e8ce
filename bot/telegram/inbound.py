"""Telegram updates from buyers as the conversation service's channel-neutral `Inbound`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from telegram import Message, Update

from bot.conversation.io import Inbound, SourceRef
from bot.engine.events import Buyer, Command, Contact, Media, Press, Text
from bot.handoff.message_info import summary_of
from bot.notify.texts import COMMAND_BUTTON
from bot.orders.signed_link import LinkCheck
from bot.telegram.commands import command_event, parse_command
from bot.telegram.keyboards import STALE_NODE, decode, resolve_node

# Documents the return flows accept as evidence; other files get a polite refusal.
EVIDENCE_MIME_PREFIXES = ("image/", "video/", "application/pdf")
OTHER_KINDS = ("sticker", "voice", "video_note", "audio", "animation", "location", "venue", "contact", "poll", "dice")

LinkVerifier = Callable[[str], "LinkCheck | None"]


def receipt_of(update: Update) -> str:
    """The inbox key of a Telegram update."""
    return f"tg:{update.update_id}"


def buyer_of(update: Update) -> Buyer:
    user = update.effective_user
    chat = update.effective_chat
    return Buyer(id=str(chat.id if chat else user.id if user else ""),
                 language_code=(user.language_code or "") if user else "",
                 name=user.full_name if user else "")


def message_inbound(update: Update, message: Message, verify_link: LinkVerifier | None) -> Inbound:
    """A buyer's message (or an edit of one) -> the engine event, or a refusal, and its transcript line."""
    edited = message.edit_date.timestamp() if update.edited_message is not None and message.edit_date else None
    reply_to = message.reply_to_message.message_id if message.reply_to_message is not None else None
    inbound = partial(Inbound, conversation=str(message.chat_id), buyer=buyer_of(update), receipt=receipt_of(update),
                      ref=SourceRef(message.chat_id, message.message_id, edited, reply_to), summary=summary_of(message))
    if message.text is not None:
        parsed = parse_command(message.text)
        if parsed is not None:
            name, arg = parsed
            return inbound(event=command_event(name, arg, verify_link), kind="command", text=message.text)
        return inbound(event=Text(message.text), kind="text", text=message.text)
    caption = message.caption or ""
    if message.photo:
        best = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        media = Media("photo", best.file_id, best.file_size or 0, "image/jpeg")
        return inbound(event=media, kind="photo", text=caption or best.file_id)
    if message.video is not None:
        v = message.video
        media = Media("video", v.file_id, v.file_size or 0, v.mime_type or "video/mp4")
        return inbound(event=media, kind="video", text=caption or v.file_id)
    if message.document is not None:
        d = message.document
        mime = d.mime_type or ""
        text = caption or d.file_name or d.file_id
        if not mime.startswith(EVIDENCE_MIME_PREFIXES):
            return inbound(event=None, kind="document", text=text, refusal="ask.media_invalid")
        return inbound(event=Media("document", d.file_id, d.file_size or 0, mime), kind="document", text=text)
    if message.contact is not None:
        c = message.contact
        sender = message.from_user.id if message.from_user else None
        digits = "".join(ch for ch in c.phone_number or "" if ch.isdigit())
        if c.user_id is None or c.user_id != sender or not digits:
            # someone else's contact (anyone can send any contact): never proof of anything
            return inbound(event=None, kind="contact", text="", refusal="common.media_not_expected")
        return inbound(event=Contact(digits), kind="contact", text=f"📱 …{digits[-4:]}")
    kind = next((k for k in OTHER_KINDS if getattr(message, k, None) is not None), "other")
    return inbound(event=None, kind=kind, text=caption, refusal="common.media_not_expected")


def press_event(data: str | None, node_now: str) -> tuple[Press | Command, str]:
    """A button's callback data -> the Press for the engine and the transcript text; `node_now` is
    the node the buyer is at (only a hashed callback needs it: see `needs_node`). A command button
    ("k|order|<posting>", on proactive messages: bot/notify) is that command, as if typed."""
    if data and data.startswith(COMMAND_BUTTON):
        name, _, arg = data[len(COMMAND_BUTTON):].partition("|")
        return Command(name, arg), f"/{name} {arg}".strip()
    callback = decode(data)
    if callback is None:
        return Press("", STALE_NODE), data or ""
    node = resolve_node(callback, node_now) if callback.hashed else callback.node
    return Press(callback.option_id, node or STALE_NODE), callback.option_id


def needs_node(data: str | None) -> bool:
    """Whether resolving this callback data needs the buyer's current node (a hashed node id)."""
    callback = decode(data)
    return callback is not None and callback.hashed


def press_inbound(update: Update, node_now: str) -> Inbound:
    """A button press; `node_now` is the node the buyer is at (hashed callbacks are resolved against it)."""
    query = update.callback_query
    assert query is not None
    press, text = press_event(query.data, node_now)
    chat = update.effective_chat
    return Inbound(conversation=str(chat.id if chat else query.from_user.id), buyer=buyer_of(update), event=press,
                   kind="press", text=text, receipt=receipt_of(update))
