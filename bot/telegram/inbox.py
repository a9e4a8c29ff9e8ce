"""Nothing lost at a crash, nothing done twice: every Telegram update is stored in the store's
inbox (keyed by update_id) before Telegram is told it arrived, repeats are dropped, and start-up
handles every stored update that has no outcome yet, in order, once.

- Long polling confirms updates by asking getUpdates for the next offset. bot/telegram/polling.py
  stores the updates a response carries (one transaction) before anything handles them, so before
  the next getUpdates can confirm them.
- Webhook: bot/telegram/webhook.py stores the update before answering 2xx (see `store_raw`).
- Processing: a gate in handler group -2 drops an update whose receipt is already finished; a
  finisher in group 99 records the outcome once every handler ran (a buyer's plain text or press,
  handled from its JSON by `BuyerHandlers.on_raw`, records its own). A buyer's engine turn marks its
  receipt `turned` in the same transaction as the new state (bot/store), so a crash after the
  turn resends its undelivered replies and runs its follow-ups instead of running the turn again.
- `recover()` at start-up, before polling or the webhook start: stored updates still `new` go
  through the handlers in arrival order; `turned` ones are completed by the conversation service.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from bot.conversation.service import Conversation
from bot.store.base import INBOX_NEW, INBOX_TURNED, ConversationStore, InboxItem
from bot.telegram.inbound import receipt_of

log = logging.getLogger(__name__)


def _chat_of(raw: dict[str, Any]) -> str:
    """The chat an update belongs to (for per-chat order when it is replayed); "" when none."""
    for key in ("message", "edited_message", "channel_post", "edited_channel_post", "my_chat_member",
                "chat_member", "chat_join_request", "message_reaction"):
        body = raw.get(key)
        if isinstance(body, dict) and isinstance(body.get("chat"), dict):
            return str(body["chat"].get("id", ""))
    query = raw.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return str(message["chat"].get("id", ""))
        return str((query.get("from") or {}).get("id", ""))
    return ""


def items_of(updates: list[dict[str, Any]]) -> list[InboxItem]:
    now = time.time()
    return [InboxItem(f"tg:{u['update_id']}", _chat_of(u), json.dumps(u, ensure_ascii=False), now)
            for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]


async def store_raw(store: ConversationStore, updates: list[dict[str, Any]]) -> set[str]:
    """Store raw updates durably; the keys that were new (a repeat is not stored again)."""
    items = items_of(updates)
    if not items:
        return set()
    return set(await store.inbox_add(items))


def install(application: Application, store: ConversationStore) -> None:
    """The gate (group -2) and the finisher (group 99) around every other handler."""

    async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        status = await store.inbox_status(receipt_of(update))
        if status not in (None, INBOX_NEW, INBOX_TURNED):  # it has its outcome already
            log.info("update %s was handled before (%s): dropped", update.update_id, status)
            raise ApplicationHandlerStop
        if status == INBOX_TURNED:  # a turn saved before a crash: complete it, never run it again
            conversation: Conversation = application.bot_data["conversation"]
            for pending in await store.inbox_pending():
                if pending.key == receipt_of(update):
                    await conversation.complete(pending)
            await store.inbox_finish(receipt_of(update), "done")
            raise ApplicationHandlerStop

    async def finish(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await store.inbox_finish(receipt_of(update), "done")

    application.add_handler(TypeHandler(Update, gate), group=-2)
    application.add_handler(TypeHandler(Update, finish), group=99)


async def recover(application: Application, store: ConversationStore) -> int:
    """Handle, in arrival order, every stored update with no outcome yet. Returns how many."""
    conversation: Conversation = application.bot_data["conversation"]
    pending = [p for p in await store.inbox_pending() if p.key.startswith("tg:")]  # other channels replay their own
    for item in pending:
        try:
            if item.status == INBOX_TURNED:
                await conversation.complete(item)
                await store.inbox_finish(item.key, "done")
            else:
                update = Update.de_json(json.loads(item.payload), application.bot)
                await application.process_update(update)
        except Exception:  # one bad stored update must not stop the others
            log.exception("replaying %s", item.key)
            await store.inbox_finish(item.key, "failed")
    if pending:
        log.warning("start-up: %d stored updates had no outcome yet; handled them in order", len(pending))
    return len(pending)
