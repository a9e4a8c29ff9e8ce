"""Agents' commands inside a buyer's topic. None of them, nor their text, ever reaches the buyer.

    /close            the question is resolved: the bot takes over again and asks the buyer for a 1-5 rating
    /order [NUMBER]   a fresh order card from the order backend
    /note TEXT        an internal note, stored with the conversation
    /flow NAME        send the buyer back into a flow (by its command, e.g. `order`, or its id)
    /history          the whole conversation as a .txt file
    /block, /unblock  ignore an abusive buyer entirely / stop ignoring them
    /reopen [NUMBER]  let buyers prove an order again after guessing closed it (its wrong answers and locks go)
    /diagnose [NUMBER] why the order is stuck or has no shipping label yet, and what to do
                      (also anywhere in the group with a NUMBER)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import InputFile, Message
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.engine.events import Buyer
from bot.handoff.desk import Desk, Resume
from bot.handoff.diagnose import diagnose as diagnose_order
from bot.handoff.records import BLOCKED, RETURNED
from bot.handoff.sessions import Sessions
from bot.orders.errors import OrderBackendError
from bot.orders.model import Order
from bot.orders.numbers import OrderRef, find_order_number

log = logging.getLogger(__name__)

COMMANDS = ("close", "order", "note", "flow", "history", "block", "unblock", "reopen", "diagnose", "help")


@dataclass
class AgentCommands:
    """What the commands work with: the desk, the sessions (/close) and how to resume a buyer (/flow)."""

    desk: Desk
    sessions: Sessions
    resume: Resume | None = None


def command_name(text: str) -> str | None:
    """`/close@ozon_bot now` -> "close"; None when the text is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head = text.split(maxsplit=1)[0][1:]
    return head.split("@", 1)[0].lower() or None


def command_arg(text: str) -> str:
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def run(h: AgentCommands, chat_id: str, thread: int, message: Message, name: str, arg: str) -> None:
    handler = _HANDLERS.get(name)
    if handler is None:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.unknown_command", commands=_usage()))
        return
    await handler(h, chat_id, thread, message, arg)


def _usage() -> str:
    return " ".join("/" + c for c in COMMANDS)


def _agent(message: Message) -> str:
    user = message.from_user
    return user.full_name if user else "?"


async def _close(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    session = await h.desk.records.open_session(chat_id)
    if session is None:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.no_session"))
        return
    await h.sessions.close(chat_id, session, _agent(message))
    await h.desk.reply_in_topic(thread, "✅ " + h.desk.texts.t("agent_card.closed", agent=_agent(message)))


async def _note(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    if not arg:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.note_usage"))
        return
    session = await h.desk.records.open_session(chat_id) or await h.desk.records.last_session(chat_id)
    user = message.from_user
    await h.desk.records.add_note(chat_id, session.id if session else None, user.id if user else 0,
                                  _agent(message), arg, h.desk.now())
    await h.desk.reply_in_topic(thread, "📝 " + h.desk.texts.t("agent_card.note_saved"))


def _ref(arg: str, state_order: Order | None, vars_: dict[str, Any]) -> OrderRef | None:
    if arg:
        return find_order_number(arg)
    if state_order is not None:
        return OrderRef(state_order.order_number, state_order.posting_number)
    number = vars_.get("posting_number") or vars_.get("order_number")
    return find_order_number(str(number)) if number else None


async def _orders(h: AgentCommands, chat_id: str | None, thread: int | None,
                  arg: str) -> tuple[list[Order], bool] | None:
    """Fresh orders for `arg` or the buyer's current order; falls back to the snapshot. None: nothing to show."""
    state = await h.desk.app.store.load_state(chat_id) if chat_id else None
    snapshot = state.order_model() if state else None
    ref = _ref(arg, snapshot, state.vars if state else {})
    if ref is None:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.order_usage"))
        return None
    try:
        found = await h.desk.app.orders.find(ref)
    except OrderBackendError as exc:
        log.warning("order backend for /order %s: %s", ref.text, exc)
        if snapshot is not None and not arg:
            await h.desk.reply_in_topic(thread, "⚠️ " + h.desk.texts.t("agent_card.backend_unavailable"))
            return [snapshot], False
        await h.desk.reply_in_topic(thread, "⚠️ " + h.desk.texts.t("agent_card.backend_unavailable"))
        return None
    if not found:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.order_not_found", number=ref.text))
        return None
    if ref.posting_number:
        found = [o for o in found if o.posting_number == ref.posting_number] or found
    return found, True


async def _order(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    result = await _orders(h, chat_id, thread, arg)
    if result is None:
        return
    orders, fresh = result
    for order in orders[:5]:
        await h.desk.reply_in_topic(thread, h.desk.texts.order_card(order, h.desk.clock.now(), fresh=fresh))


async def diagnose(h: AgentCommands, thread: int | None, arg: str) -> None:
    """/diagnose in a topic (the buyer's order) or `/diagnose NUMBER` anywhere in the group."""
    topic = await h.desk.records.topic_by_thread(thread) if thread else None
    if topic is None and not arg:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.diagnose_usage"))
        return
    result = await _orders(h, topic.chat_id if topic else None, thread, arg)
    if result is None:
        return
    now = h.desk.clock.now()
    for order in result[0][:5]:
        await h.desk.reply_in_topic(thread, h.desk.texts.diagnosis(diagnose_order(order, now), order, now))


async def _diagnose(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    await diagnose(h, thread, arg)


def _flow_command(h: AgentCommands, name: str) -> tuple[str, str] | None:
    """(command, flow id) for a flow named by one of its commands or by its id."""
    current = h.desk.app.registry.current
    key = name.strip().lstrip("/").lower()
    if key in current.commands:
        return key, current.commands[key]
    for command, flow_id in current.commands.items():
        if flow_id == key:
            return command, flow_id
    return None


async def _flow(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    target = _flow_command(h, arg) if arg else None
    if target is None:
        names = ", ".join(sorted({f"{c} ({f})" for c, f in h.desk.app.registry.current.commands.items()}))
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.flow_usage", flows=names))
        return
    _, flow_id = target
    session = await h.desk.records.open_session(chat_id)
    if session is not None:
        await h.desk.records.end_session(session.id, RETURNED, h.desk.now(), by=_agent(message))
    info = await h.desk.buyer_info(chat_id)
    lang = await h.desk.buyer_lang(chat_id)
    if h.resume is None:
        log.error("/flow for %s: no conversation service to resume the buyer in", chat_id)
        return
    await h.resume(chat_id, Buyer(id=chat_id, language_code=lang, name=info.name), flow_id)
    await h.desk.reply_in_topic(thread, "🔀 " + h.desk.texts.t("agent_card.flow_sent", flow=flow_id))


async def _history(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    entries = await h.desk.app.store.transcript(chat_id, limit=5000)  # buyer, bot and agent lines
    text = h.desk.texts.history(await h.desk.buyer_info(chat_id), entries, await h.desk.records.notes(chat_id))
    try:
        await h.desk.bot.send_document(h.desk.group_id,
                                       InputFile(text.encode("utf-8"), filename=f"history-{chat_id}.txt"),
                                  message_thread_id=thread, caption=h.desk.texts.t("agent_card.history_caption"),
                                  parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        log.warning("sending history of %s: %s", chat_id, exc)


async def _block(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    await h.desk.records.block(chat_id, _agent(message), h.desk.now())
    session = await h.desk.records.open_session(chat_id)
    if session is not None:
        await h.desk.records.end_session(session.id, BLOCKED, h.desk.now(), by=_agent(message))
    await h.desk.reply_in_topic(thread, "⛔ " + h.desk.texts.t("agent_card.blocked"))


async def _unblock(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    await h.desk.records.unblock(chat_id)
    await h.desk.reply_in_topic(thread, "✅ " + h.desk.texts.t("agent_card.unblocked"))


async def _reopen(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    """An order closed to proof by guessing (wrong answers from many buyers): after checking who the
    buyer is, an agent lets buyers prove it again."""
    state = await h.desk.app.store.load_state(chat_id)
    number = arg or (state.vars.get("order_number") if state else "") or ""
    ref = find_order_number(str(number))
    if ref is None:
        await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.reopen_usage"))
        return
    removed = await h.desk.app.store.owner_reopen(ref.order_number)
    log.info("%s reopened order %s to proof (%d records)", _agent(message), ref.order_number, removed)
    await h.desk.reply_in_topic(thread, "🔓 " + h.desk.texts.t("agent_card.reopened", number=ref.order_number))


async def _help(h: AgentCommands, chat_id: str, thread: int, message: Message, arg: str) -> None:
    await h.desk.reply_in_topic(thread, h.desk.texts.t("agent_card.help"))


_HANDLERS = {"close": _close, "order": _order, "note": _note, "flow": _flow, "history": _history,
             "block": _block, "unblock": _unblock, "reopen": _reopen, "diagnose": _diagnose, "help": _help}
