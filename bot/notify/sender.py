"""The one sender of proactive messages (buyers' order news, the agents' digest), within Telegram's
limits: at most `per_second` messages a second for the bot, one message per `chat_seconds` to a
buyer, `group_per_minute` to a group.

Pacing happens at the moment of sending, with no bursts: each message takes the next free slot of
the bot (1/per_second apart) and of its chat. Telegram counts messages as they arrive; a pace with
bursts (a token bucket holding several tokens, PTB's AIORateLimiter) lets a delayed event loop
release several at once, which then arrive closer together than the limit. So the defaults keep
headroom below Telegram's figures (25/s of 30, 1.1 s per chat, 19/min per group): interactive
replies share the bot's budget, and event-loop jitter moves arrivals by a few milliseconds.

Nothing lost, nothing twice: a message is claimed (pending -> sending) before the call and marked
sent right after it. Flood control (429) is a wait, not a failure: the message goes back with the
wait Telegram asked for and the whole bot pauses. A buyer who blocked the bot (403) has their
watches ended and their pending messages dropped. Network errors and 5xx are retried with back-off,
up to `max_attempts`. After a kill, `run()` first puts messages caught mid-send back (each of those
may be sent a second time: the only case, bounded by `concurrency`). Several processes (PostgreSQL):
the sender runs on the leader; a claim is a lease, and messages a dead leader was sending come back
when their lease runs out (`release_expired`, every `release_every` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.handoff.outbox import NO_PREVIEW, markup
from bot.notify.records import NotifyRecords, Outbound
from bot.retry import RetryPolicy

log = logging.getLogger(__name__)

RETRY = RetryPolicy(base=5.0, cap=600.0, max_retry_after=float("inf"))


@dataclass
class Limits:
    per_second: float = 25.0  # the bot as a whole (Telegram: about 30)
    chat_seconds: float = 1.1  # between two messages to one buyer (Telegram: about 1 a second)
    group_per_minute: float = 19.0  # to one group (Telegram: 20 a minute)

    def chat_gap(self, chat_id: int) -> float:
        return 60.0 / self.group_per_minute if chat_id < 0 else self.chat_seconds


@dataclass
class Pace:
    """Next free moments (monotonic seconds): the bot's and each chat's."""

    limits: Limits
    clock: Callable[[], float] = time.monotonic
    bot_next: float = 0.0
    chat_next: dict[int, float] = field(default_factory=dict)

    def chat_ready(self, chat_id: int) -> float:
        return self.chat_next.get(chat_id, 0.0)

    def reserve(self, chat_id: int) -> float:
        """Take the next slot for a message to `chat_id`; the moment it may leave."""
        at = max(self.clock(), self.bot_next, self.chat_ready(chat_id))
        self.bot_next = at + 1.0 / self.limits.per_second
        self.chat_next[chat_id] = at + self.limits.chat_gap(chat_id)
        if len(self.chat_next) > 50_000:  # forget chats whose pause is long over
            now = self.clock()
            self.chat_next = {c: t for c, t in self.chat_next.items() if t > now}
        return at

    def pause(self, seconds: float) -> None:
        self.bot_next = max(self.bot_next, self.clock() + seconds)


@dataclass
class Figures:
    sent: int = 0
    flood_waits: int = 0  # 429s received
    retried: int = 0
    failed: int = 0
    blocked: int = 0  # buyers who blocked the bot (their watches ended)


class Sender:
    def __init__(self, bot: Bot, records: NotifyRecords, *, limits: Limits | None = None, concurrency: int = 8,
                 batch: int = 200, poll_seconds: float = 0.5, max_attempts: int = 8,
                 wall: Callable[[], float] = time.time, on_blocked: Callable[[int], Any] | None = None,
                 retry: RetryPolicy = RETRY, release_every: float = 5.0) -> None:
        self.bot = bot
        self.records = records
        self.pace = Pace(limits or Limits())
        self.concurrency = concurrency
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.wall = wall
        self.on_blocked = on_blocked
        self.retry = retry
        self.release_every = release_every  # seconds between looks for a dead sender's claims (several processes)
        self._released_at = 0.0
        self.figures = Figures()
        self._kick = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._flying: set[asyncio.Task] = set()
        # chat -> (id, due) of its oldest message waiting for the chat's pace: newer ones queue behind it
        self._held: dict[int, tuple[int, float]] = {}
        self._task: asyncio.Task | None = None
        self.leader: Callable[[], bool] | None = None  # several processes: send only while this one leads

    # ---- life ------------------------------------------------------------------------------------
    def wake(self) -> None:
        """There is something new to send (the notifier and the digest call this)."""
        self._kick.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="notify-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.settle()

    async def run(self) -> None:
        resumed = False
        while True:
            if self.leader is not None and not self.leader():
                resumed = False  # another process sends; when this one leads again, it resumes first
                await asyncio.sleep(self.poll_seconds)
                continue
            try:
                if not resumed:
                    await self.resume()
                    resumed = True
                await self.release_expired()
                moved = await self.drain_once()
            except Exception:  # the loop must survive one bad pass
                log.exception("proactive sender pass")
                moved = 0
            if not moved:
                self._kick.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), self.poll_seconds)

    async def resume(self) -> None:
        """After a restart: each chat keeps its pace from what was sent before (a message caught
        mid-send counts as sent just now), and the messages caught mid-send go back to the queue."""
        wall, mono = self.wall(), self.pace.clock()
        longest = max(self.pace.limits.chat_gap(-1), self.pace.limits.chat_gap(1))
        for chat, at in (await self.records.last_sent(wall - longest, wall)).items():
            self.pace.chat_next[chat] = max(self.pace.chat_next.get(chat, 0.0),
                                            mono + at - wall + self.pace.limits.chat_gap(chat))
        self.pace.bot_next = mono + 1.0  # another process may have sent a second's worth just before
        recovered = await self.records.recover()
        self._released_at = self.pace.clock()
        if recovered:
            log.warning("%d proactive messages were interrupted mid-send; sending them again", recovered)

    async def release_expired(self) -> None:
        """Every `release_every` seconds: messages a dead process claimed go back to the queue once its
        lease ran out (PostgreSQL; a leader that died mid-send just before this one took over)."""
        mono = self.pace.clock()
        if mono - self._released_at < self.release_every:
            return
        self._released_at = mono
        released = await self.records.release_expired()
        if released:
            log.warning("%d proactive messages of a stopped process were interrupted mid-send; sending them again",
                        released)

    async def idle(self) -> None:
        """Wait until nothing is pending or in flight (tests and benchmarks bound it with a timeout)."""
        while True:
            counts = await self.records.counts()
            if not counts["pending"] and not counts["sending"] and not self._flying:
                return
            self.wake()
            await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Wait for the sends in flight."""
        while self._flying:
            await asyncio.gather(*list(self._flying), return_exceptions=True)

    # ---- one pass --------------------------------------------------------------------------------
    async def drain_once(self) -> int:
        """Start sending what is due now (what waits for its chat's pace is postponed); how many were started."""
        moved = 0
        offset = self.wall() - self.pace.clock()  # one per pass: a chat's waiting messages share a moment
        for o in await self.records.due(self.wall(), self.batch):
            held = self._held.get(o.chat_id)
            if held is not None and held[1] + 5.0 < offset + self.pace.clock():
                self._held.pop(o.chat_id)  # long due and not seen again: sent, failed or dropped elsewhere
                held = None
            ready = self.pace.chat_ready(o.chat_id)
            if held is not None and held[0] < o.id:  # an older message to this chat waits: stay behind it
                await self.records.postpone(o.id, held[1])
                continue
            if ready > self.pace.clock():  # this chat's pace: wait in the records, let others go first
                self._held[o.chat_id] = (o.id, ready + offset)
                await self.records.postpone(o.id, ready + offset)
                continue
            if held is not None and held[0] == o.id:
                del self._held[o.chat_id]
            at = self.pace.reserve(o.chat_id)
            await self._slots.acquire()
            delay = at - self.pace.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            # Claimed only now, at the moment of sending: a kill leaves "sending" only what may have left.
            if not await self.records.claim(o.id):
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._send(o))
            self._flying.add(task)
            task.add_done_callback(self._flying.discard)
            moved += 1
        return moved

    async def _send(self, o: Outbound) -> None:
        try:
            await self._deliver(o)
        except Exception:  # a bug here must not lose the message: it stays "sending" until recover()
            log.exception("proactive message %s", o.key)
        finally:
            self._slots.release()

    async def _deliver(self, o: Outbound) -> None:
        p = o.payload
        try:
            message = await self.bot.send_message(o.chat_id, p["text"], message_thread_id=o.thread_id,
                                                  parse_mode=p.get("parse_mode"), reply_markup=markup(p.get("buttons")),
                                                  link_preview_options=NO_PREVIEW)
        except RetryAfter as exc:
            wait = self.retry.delay(o.attempts, exc.retry_after)
            self.figures.flood_waits += 1
            self.pace.pause(wait)  # flood control covers the whole bot
            await self.records.mark_retry(o.id, str(exc), self.wall() + wait, count_attempt=False)
        except Forbidden as exc:
            await self.records.mark_failed(o.id, str(exc))
            self.figures.failed += 1
            if o.chat_id > 0:  # a buyer blocked the bot: no more news for them
                self.figures.blocked += 1
                self._held.pop(o.chat_id, None)
                dropped = await self.records.fail_pending(o.chat_id, "the buyer blocked the bot")
                ended = await self.records.unwatch(str(o.chat_id))
                log.info("chat %s blocked the bot: %d watches ended, %d messages dropped", o.chat_id, ended, dropped)
                if self.on_blocked is not None:
                    self.on_blocked(o.chat_id)
        except BadRequest as exc:
            log.warning("proactive message %s refused: %s", o.key, exc)
            await self.records.mark_failed(o.id, str(exc))
            self.figures.failed += 1
        except (NetworkError, TelegramError, OSError) as exc:  # 5xx, timeouts, connection errors
            if o.attempts >= self.max_attempts:
                await self.records.mark_failed(o.id, str(exc))
                self.figures.failed += 1
            else:
                self.figures.retried += 1
                await self.records.mark_retry(o.id, str(exc), self.wall() + self.retry.delay(o.attempts - 1))
        else:
            await self.records.mark_sent(o.id, message.message_id, self.wall())
            self.figures.sent += 1
