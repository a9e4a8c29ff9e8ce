"""`OzonChatAdapter`: buyers' messages from Ozon's chat into the conversation service.

    adapter = OzonChatAdapter(app, api, handoff=handoff)
    await adapter.recover()                # what a crash left without an outcome, in order, once
    await adapter.handle_push(payload)     # TYPE_NEW_MESSAGE / TYPE_UPDATE_MESSAGE / TYPE_CHAT_CLOSED
    await adapter.poll_once()              # /v3/chat/list (unread) + /v3/chat/history, without push

Nothing lost, nothing done twice (the Telegram guarantees): every buyer message is stored in the
store's inbox (`oz:<message_id>`) before anything else, and marked read in Ozon (`/v2/chat/read`)
only once it has an outcome; a repeat (push and poll both bring it, Ozon resends) is dropped;
`recover()` handles what has no outcome yet, and a turn saved before a crash gets its undelivered
replies sent instead of running again. Messages of one chat are handled in order, chats
concurrently.

The chat's context (the order it was opened from, in /v3/chat/history) proves that order is the
buyer's: Ozon knows who wrote. Any other order number typed goes through the usual proof.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.conversation.io import Inbound
from bot.conversation.ports import HandoffPort, NoHandoff, Turns
from bot.conversation.ratelimit import RateLimiter
from bot.conversation.service import Conversation
from bot.engine.effects import Handoff
from bot.engine.state import ConversationState
from bot.orders.errors import OrderBackendError
from bot.orders.model import Order
from bot.orders.numbers import parse_order_number
from bot.orders.ozon.errors import OzonError
from bot.orders.provider import OrderProvider
from bot.ozonchat.api import ChatForbidden, ChatMessage, OzonChatApi, chat_message
from bot.ozonchat.channel import Note, OzonChatChannel
from bot.ozonchat.inbound import PREFIX, chat_of, conversation_of, message_inbound, receipt_of
from bot.ozonchat.rules import Verdict, reply_window
from bot.store.base import INBOX_BUSY, INBOX_NEW, INBOX_TURNED, InboxItem, shared_inbox

log = logging.getLogger(__name__)

NEW_MESSAGE, UPDATE_MESSAGE, CHAT_CLOSED = "TYPE_NEW_MESSAGE", "TYPE_UPDATE_MESSAGE", "TYPE_CHAT_CLOSED"
READ_ONLY_REASON = "ozon_read_only"  # the handoff reason when the shop cannot write in Ozon chat
CONTEXT_HISTORY = 20  # messages read to find the order a chat is about
# Chats handled at once. The API cap (50 requests/s, ~3 a new chat) serves ~17 new chats a second, so
# more gain nothing; with 1,000 at once the event loop lagged enough between a call's grant and its
# request leaving that 51 requests went out in one second (bench/ozonchat.py).
CONCURRENT_CHATS = 32


@dataclass
class ChatContext:
    """What the adapter knows of one chat (in memory; rebuilt from history after a restart)."""

    order_number: str = ""  # from the chat's context: proven the buyer's
    order: Order | None = None
    last_buyer_at: datetime | None = None
    closed: bool = False
    known: bool = False  # the context was looked up


class OzonChatAdapter:
    def __init__(self, turns: Turns, api: OzonChatApi, *, handoff: HandoffPort | None = None,
                 writable: bool = True, note: Note | None = None, limiter: RateLimiter | None = None,
                 orders: OrderProvider | None = None, clock: Callable[[], datetime] | None = None,
                 concurrency: int = CONCURRENT_CHATS, lease: float = 30.0) -> None:
        self.turns = turns
        self.orders: OrderProvider | None = orders or getattr(turns, "orders", None)
        self.store = turns.store
        # several processes on one database: a message is claimed (`lease` seconds) before it is handled
        self.shared = shared_inbox(self.store)
        self.lease = lease
        self.api = api
        self.handoff: HandoffPort = handoff or NoHandoff()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.channel = OzonChatChannel(api, self.store, self.window, note=note, writable=writable,
                                       text_of=lambda msgid, lang: turns.text(msgid, lang))
        self.conversation = Conversation(turns, self.channel, self.handoff, limiter=limiter)
        self.contexts: dict[str, ChatContext] = {}
        self._queues: dict[str, list[str]] = {}  # chat -> receipts waiting, in arrival order
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._payloads: dict[str, str] = {}  # receipt -> stored payload, until handled
        self._handling: set[str] = set()  # receipts being handled now
        self.observers: list[Callable[[str, str], None]] = []  # (receipt, outcome) once handled
        self._closed = False
        self._turns = asyncio.Semaphore(concurrency)  # chats handled at once (the rest wait their turn)
        self._polled: dict[str, tuple[int, int]] = {}  # chat -> (unread, last message id) at the last poll

    @property
    def writable(self) -> bool:
        return self.channel.writable

    # ---- push ---------------------------------------------------------------------------------
    async def handle_push(self, payload: dict[str, Any]) -> None:
        """One push from Ozon (the push endpoint calls this after storing the push). Returns once
        the message is in the inbox; it is answered in the background, in its chat's order."""
        kind = str(payload.get("message_type") or "")
        chat_id = str(payload.get("chat_id") or "")
        if not chat_id or not str(payload.get("chat_type") or "buyer_seller").lower().startswith("buyer_seller"):
            return
        if kind == CHAT_CLOSED:
            await self.chat_closed(chat_id)
            return
        if kind not in (NEW_MESSAGE, UPDATE_MESSAGE):
            return
        message = chat_message(chat_id, payload)
        if message.from_buyer and message.message_id:
            await self.accept([message], edited=kind == UPDATE_MESSAGE)

    async def chat_closed(self, chat_id: str) -> None:
        """The buyer's chat was closed in Ozon: nothing more can be written there; agents are told."""
        self.contexts.setdefault(chat_id, ChatContext()).closed = True
        conversation = conversation_of(chat_id)
        if await self.handoff.is_active(conversation):
            await self.channel.note(conversation, "agent_card.ozon_chat_closed", {})

    # ---- polling ------------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """Unread buyer chats and their new messages into the inbox; how many were new."""
        new = 0
        cursor = ""
        while True:
            chats, cursor, more = await self.api.chat_list(unread_only=True, cursor=cursor)
            for chat in chats:
                if not chat.with_buyer or chat.unread_count <= 0:
                    continue
                seen = (chat.unread_count, chat.last_message_id)
                if self._polled.get(chat.chat_id) == seen:  # nothing new since the last poll (read-only)
                    continue
                self._polled[chat.chat_id] = seen
                messages = await self.api.history(chat.chat_id, limit=min(1000, chat.unread_count + CONTEXT_HISTORY))
                self._learn_context(chat.chat_id, messages)
                fresh = [m for m in messages if m.from_buyer and m.message_id >= chat.first_unread_message_id]
                added = await self.accept(fresh)
                new += added
                if not added and fresh and self.writable:  # all handled before: only the read mark was lost
                    await self._mark_read(chat.chat_id, max(m.message_id for m in fresh))
            if not more or not cursor:
                return new

    async def poll_forever(self, every: float, stop: asyncio.Event, *,
                           leader: Callable[[], bool] | None = None) -> None:
        """Poll every `every` seconds until `stop`. With several processes (`leader` given) only the
        leader polls (one process within the Seller API's limits), and each of its rounds also takes
        up the stored messages a stopped process left unfinished (their leases ran out)."""
        while not stop.is_set():
            try:
                if leader is None or leader():
                    if self.shared is not None:
                        await self.requeue_orphans()
                    await self.poll_once()
            except OzonError as exc:
                log.warning("polling Ozon chats: %s", exc)
            except Exception:  # the poller must outlive one bad answer
                log.exception("polling Ozon chats")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    # ---- the inbox ----------------------------------------------------------------------------
    async def accept(self, messages: list[ChatMessage], *, edited: bool = False) -> int:
        """Store buyer messages (one transaction, durable before anything else), queue the new ones."""
        now = time.time()
        items = [InboxItem(receipt_of(m, edited=edited), conversation_of(m.chat_id), _payload(m, edited), now)
                 for m in messages]
        new = set(await self.store.inbox_add(items)) if items else set()
        for item in items:
            if item.key in new and not self._closed:  # after close: stored, the next start handles it
                self._payloads[item.key] = item.payload
                self._enqueue(item.chat_id, item.key)
        return len(new)

    async def requeue_orphans(self) -> int:
        """Several processes: queue the stored Ozon messages without an outcome that this process is
        not handling (the claim in `_handle` skips those another live process holds). How many."""
        pending = [p for p in await self.store.inbox_pending()
                   if p.key.startswith(PREFIX) and p.key not in self._payloads and p.key not in self._handling]
        for item in pending:
            self._payloads[item.key] = item.payload
            self._enqueue(item.chat_id, item.key)
        return len(pending)

    async def recover(self) -> int:
        """Queue, in arrival order, every stored Ozon message without an outcome. Returns how many."""
        pending = [p for p in await self.store.inbox_pending() if p.key.startswith(PREFIX)]
        for item in pending:
            self._payloads[item.key] = item.payload
            self._enqueue(item.chat_id, item.key)
        if pending:
            log.warning("start-up: %d stored Ozon chat messages had no outcome yet; handling them in order",
                        len(pending))
        return len(pending)

    async def drain(self) -> None:
        """Wait until every queued message is handled (tests and shutdown bound it with a timeout)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()

    def _enqueue(self, conversation: str, key: str) -> None:
        self._queues.setdefault(conversation, []).append(key)
        if conversation not in self._workers:
            self._workers[conversation] = asyncio.get_running_loop().create_task(
                self._work(conversation), name=f"ozonchat:{conversation}")

    async def _work(self, conversation: str) -> None:
        queue = self._queues[conversation]
        last_read = 0
        try:
            while queue:
                key = queue.pop(0)
                async with self._turns:
                    message_id = await self._handle(conversation, key)
                last_read = max(last_read, message_id)
            if last_read and self.writable:  # one read mark for what this run handled
                chat = chat_of(conversation)
                if chat is not None:
                    await self._mark_read(chat, last_read)
        finally:
            self._workers.pop(conversation, None)
            if queue:  # more arrived while the last read mark went out
                self._workers[conversation] = asyncio.get_running_loop().create_task(
                    self._work(conversation), name=f"ozonchat:{conversation}")
            else:
                self._queues.pop(conversation, None)

    async def _handle(self, conversation: str, key: str) -> int:
        """Handle one stored message once; the Ozon message id (0 when it was not a message)."""
        payload = self._payloads.pop(key, "")
        if key in self._handling:
            return 0  # queued twice (a poll round found it again): handled by the first
        self._handling.add(key)
        try:
            if self.shared is None:
                return await self._handle_stored(key, payload, await self.store.inbox_status(key))
            status = await self.shared.inbox_claim(key, self.lease)
            if status == INBOX_BUSY:
                return 0  # another process is handling it (if it dies, the leader takes it up later)
            try:
                return await self._handle_stored(key, payload, status)
            finally:
                await self.shared.inbox_release(key)
        finally:
            self._handling.discard(key)

    async def _handle_stored(self, key: str, payload: str, status: str | None) -> int:
        outcome = "done"
        try:
            raw = json.loads(payload)
            message = chat_message(str(raw["chat_id"]), raw)
            if status == INBOX_TURNED:  # a turn saved before a crash: complete it, never run it again
                for pending in await self.store.inbox_pending():
                    if pending.key == key:
                        await self.conversation.complete(pending)
            elif status == INBOX_NEW:
                outcome = await self._answer(message, edited=bool(raw.get("edited")))
            else:
                outcome = status or "dropped"
            await self.store.inbox_finish(key, "done")
            return message.message_id
        except Exception:  # one bad message must not stop its chat's others
            log.exception("Ozon chat message %s failed", key)
            outcome = "failed"
            await self.store.inbox_finish(key, "failed")
            return 0
        finally:
            for observe in self.observers:
                observe(key, outcome)

    async def _answer(self, message: ChatMessage, *, edited: bool) -> str:
        conversation = conversation_of(message.chat_id)
        ctx = self.contexts.setdefault(message.chat_id, ChatContext())
        if not edited:
            ctx.last_buyer_at = max(filter(None, (ctx.last_buyer_at, message.created_at)))
        inbound = message_inbound(message, edited=edited)
        await self._know(message.chat_id, ctx, message)
        handled = False
        if self.writable:
            await self.conversation.handle(inbound)
            handled = True
        if not self.writable:  # the shop cannot write here (or Ozon just said so): every chat goes to agents
            await self._to_agents(conversation, inbound)
            if not handled:
                await self.conversation.handle(inbound)  # relayed to the agents and recorded
        return "done"

    async def _to_agents(self, conversation: str, inbound: Inbound) -> None:
        if self.handoff.available and not await self.handoff.is_active(conversation):
            state = await self.store.load_state(conversation) or ConversationState()
            await self.handoff.start(conversation, inbound.buyer, Handoff(READ_ONLY_REASON), state)

    async def _mark_read(self, chat_id: str, message_id: int) -> None:
        try:
            await self.api.read(chat_id, message_id)
        except ChatForbidden as exc:
            log.warning("marking Ozon chat %s read refused: %s", chat_id, exc)
        except OzonError as exc:  # unread until the next poll, which drops the repeat and reads again
            log.warning("marking Ozon chat %s read: %s", chat_id, exc)

    # ---- the chat's order ---------------------------------------------------------------------
    def _learn_context(self, chat_id: str, messages: list[ChatMessage]) -> None:
        number = next((m.order_number for m in reversed(messages) if m.order_number), "")
        ctx = self.contexts.setdefault(chat_id, ChatContext())
        if number and not ctx.order_number:
            ctx.order_number = number
        buyer_times = [m.created_at for m in messages if m.from_buyer]
        if buyer_times:
            ctx.last_buyer_at = max(filter(None, (ctx.last_buyer_at, *buyer_times)))

    async def _know(self, chat_id: str, ctx: ChatContext, message: ChatMessage) -> None:
        """The first time a chat is seen: the order it is about, proven the buyer's."""
        if ctx.known:
            return
        ctx.known = True
        if message.order_number:
            ctx.order_number = message.order_number
        elif not ctx.order_number:
            try:
                self._learn_context(chat_id, await self.api.history(chat_id, limit=CONTEXT_HISTORY))
            except OzonError as exc:
                log.info("context of Ozon chat %s unknown: %s", chat_id, exc)
        if ctx.order_number:
            await self._prove(conversation_of(chat_id), ctx)

    async def _prove(self, conversation: str, ctx: ChatContext) -> None:
        """The order Ozon says the chat is about is the buyer's: recorded in the state as proof
        (as the lookup flow does after a right answer), and remembered as the order discussed."""
        ref = parse_order_number(ctx.order_number)
        if ref is None or self.orders is None:
            return
        try:
            found = await self.orders.find(ref)
        except OrderBackendError as exc:
            log.info("order %s of Ozon chat %s not read: %s", ctx.order_number, conversation, exc)
            return
        if not found:  # not an order of this shop: nothing is proven
            return
        ctx.order = next((o for o in found if o.posting_number == ref.posting_number), found[0])
        state = await self.store.load_state(conversation) or ConversationState()
        number = found[0].order_number
        if number in state.verified:
            return
        state.verified = [*state.verified, number][-20:]
        if not state.vars.get("order_number"):
            state.remember_number(number, ctx.order.posting_number if len(found) == 1 else None)
        await self.store.save_turn(conversation, state, [], [("owner_proven", {"order": number,
                                                                             "method": "ozon_chat"})])

    # ---- Ozon's rules -------------------------------------------------------------------------
    async def window(self, conversation: str) -> Verdict:
        chat = chat_of(conversation) or ""
        ctx = self.contexts.get(chat) or ChatContext()
        if ctx.closed:
            return Verdict(False, "chat_closed")
        state = await self.store.load_state(conversation)
        order = (state.order_model() if state else None) or ctx.order
        last = ctx.last_buyer_at or await self._last_buyer_message(conversation)
        return reply_window(order, last, self.clock())

    async def _last_buyer_message(self, conversation: str) -> datetime | None:
        entries = await self.store.transcript(conversation, limit=200)
        times = [e.at for e in entries if e.direction == "in"]
        return datetime.fromtimestamp(max(times), UTC) if times else None


def _payload(m: ChatMessage, edited: bool) -> str:
    """The message as stored in the inbox (the shape of a push), enough to handle it after a crash."""
    return json.dumps({"chat_id": m.chat_id, "message_id": str(m.message_id),
                       "created_at": m.created_at.isoformat(), "user": {"id": m.user_id, "type": m.user_type},
                       "data": list(m.data), "is_image": m.is_image,
                       "context": {"order_number": m.order_number, "sku": m.sku}, "edited": edited},
                      ensure_ascii=False)

