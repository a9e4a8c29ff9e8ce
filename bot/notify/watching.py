"""Buyers' order watches as a `ChangeSink` (bot/orders/changes.py): the mirror calls it with the
changes it found; each buyer watching a posting gets one message per (posting, event).

    notifier = BuyerNotifier(records, texts)
    mirror.subscribe(notifier)          # the mirror awaits notifier(changes)

Exactly once: the message is queued under `message_key` (the buyer and the event; the outbox
refuses a key it has seen, forever), so repeats and replays queue nothing. Never backwards: each posting's progress
is ranked (`rank`); a status, pickup or cancellation change is told only when it is not older than
what the buyer was already told (`NotifyRecords.advance`), and other news (a new date, a late
order) only while the posting has not moved past the state it describes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.engine.ports import Clock, SystemClock
from bot.i18n.render import Texts
from bot.notify.records import NotifyRecords, Watch
from bot.notify.texts import BuyerMessage, buyer_message, change_status, command_data
from bot.orders.changes import ChangeKind, PostingChange

log = logging.getLogger(__name__)

# How far a posting has got, for "never backwards". Disputes sit with delivery; a pickup point is
# the last step before delivered; a cancellation or a refund ends the story.
_RANKS = {
    "awaiting_verification": 0, "awaiting_approve": 1, "awaiting_packaging": 2, "awaiting_registration": 3,
    "acceptance_in_progress": 4, "awaiting_deliver": 5, "driver_pickup": 6, "sent_by_seller": 6,
    "delivering": 7, "arbitration": 7, "client_arbitration": 7, "not_accepted": 7,
    "delivered": 9, "cancelled": 10, "cancelled_from_split_pending": 10,
}
PICKUP_RANK, REFUND_RANK = 8, 11
# Changes that move the posting on (recorded with `advance`); the others are news about a state.
PROGRESS = frozenset({ChangeKind.STATUS, ChangeKind.AT_PICKUP_POINT, ChangeKind.CANCELLED, ChangeKind.REFUND})

LangOf = Callable[[str], Awaitable[str | None]]


def rank(change: PostingChange) -> int:
    if change.kind is ChangeKind.REFUND:
        return REFUND_RANK
    if change.kind is ChangeKind.CANCELLED:
        return _RANKS["cancelled"]
    if change.kind is ChangeKind.AT_PICKUP_POINT:
        return PICKUP_RANK
    status = change_status(change) if change.kind is ChangeKind.STATUS else change.order.status
    if status == "delivering" and change.order.substatus == "posting_in_pickup_point" \
            and change.kind is not ChangeKind.STATUS:
        return PICKUP_RANK
    return _RANKS.get(status, -1)


ONCE_PER_POSTING = frozenset({ChangeKind.SHIPMENT_LATE, ChangeKind.DELIVERY_LATE})


def message_key(chat_id: str, change: PostingChange) -> str:
    """The event as a buyer hears it: a late shipment or delivery once per posting, whatever its
    detail; a status once per status (a substatus move inside it is no news)."""
    if change.kind in ONCE_PER_POSTING:
        event = f"{change.posting_number}|{change.kind.value}"
    elif change.kind is ChangeKind.STATUS:
        event = f"{change.posting_number}|{change.kind.value}|{change_status(change)}"
    else:
        event = change.key
    return f"buyer:{chat_id}:{event}"


class BuyerNotifier:
    """The ChangeSink for buyers' watches. `lang_of(chat_id)`: the buyer's conversation language
    (it wins over the one recorded with the watch); `wake()`: tell the sender there is work."""

    def __init__(self, records: NotifyRecords, texts: Texts, *, clock: Clock | None = None,
                 lang_of: LangOf | None = None, default_lang: str = "ru", wake: Callable[[], None] | None = None,
                 languages: Sequence[str] = ("ru", "zh")) -> None:
        self.records = records
        self.texts = texts
        self.clock = clock or SystemClock()
        self.lang_of = lang_of
        self.default_lang = default_lang
        self.wake = wake
        self.languages = tuple(languages)

    async def __call__(self, changes: Sequence[PostingChange]) -> None:
        queued = 0
        now = self.clock.now()
        # Oldest first: a batch that holds several moves of one posting tells them in order.
        for change in sorted(changes, key=lambda c: (c.at, rank(c))):
            try:
                queued += await self._one(change, now)
            except Exception:  # one bad change must not hold back the others; the mirror may send it again
                log.exception("notifying buyers of %s", change.key)
        if queued and self.wake is not None:
            self.wake()

    async def _one(self, change: PostingChange, now: datetime) -> int:
        message = buyer_message(change, now)
        if message is None:
            return 0
        watchers = await self.records.watchers(change.posting_number)
        r, at = rank(change), change.at.timestamp()
        queued = 0
        for watch in watchers:
            if not watch.chat_id.lstrip("-").isdigit():
                continue  # a conversation no Telegram chat can reach (the terminal's)
            if change.kind in PROGRESS:
                if not await self.records.advance(watch.chat_id, watch.posting_number, r, at):
                    continue  # older than what this buyer was already told
            elif r < watch.last_rank:
                continue  # news about a state the posting has moved past
            payload = await self.render(watch, message)
            if await self.records.enqueue(message_key(watch.chat_id, change), int(watch.chat_id), payload,
                                          now.timestamp()) is not None:
                queued += 1
        return queued

    async def render(self, watch: Watch, message: BuyerMessage) -> dict:
        lang = (await self.lang_of(watch.chat_id) if self.lang_of else None) or watch.lang or self.default_lang
        if lang not in self.languages:
            lang = self.default_lang
        text = self.texts.text(message.msg, lang, message.params, message.count)
        buttons = [[[self.texts.text(label, lang), command_data(command, arg)]]
                   for label, command, arg in message.buttons]
        return {"text": text, "buttons": buttons}
