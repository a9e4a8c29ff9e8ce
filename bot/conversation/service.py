"""`Conversation`: what happens to one thing a buyer did, whatever the front end.

    conversation = Conversation(app, channel, handoff)
    await conversation.handle(inbound)       # never raises: a failure answers the internal-error text

The rules, in order: a repeat of an update already handled is dropped; while an agent owns the
chat the bot is silent and relays (only `/bot` gets through); a buyer over the rate limit is asked
to slow down; `/history` sends the transcript; what the engine cannot take (stickers, voice...) is
refused politely; anything else is an engine turn, delivered through the channel, followed by what
the turn asked for (a handoff, a notice to staff), or the `no_agent` flow when nobody can take a
handoff here. A turn that outlasts its time budget tells the buyer we are checking and delivers its
answer when it has one (bot/conversation/budget.py).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from bot.conversation.budget import Budget
from bot.conversation.followups import effects_of
from bot.conversation.io import Inbound, Reply
from bot.conversation.ports import Channel, HandoffPort, NoHandoff, Turns
from bot.conversation.ratelimit import ALLOW, WARN, RateLimiter
from bot.engine.effects import Action, Handoff
from bot.engine.events import Buyer, Command, Event, StartFlow
from bot.store.base import Outgoing, PendingUpdate

log = logging.getLogger(__name__)

NO_AGENT = "no_agent"  # system flow for a handoff nobody can take (no agents configured)
# Requests flows pass to the shop's staff, whose answer the buyer is promised ("we will write here").
STAFF_REQUESTS = frozenset({"urge_seller", "request_cancellation", "offer_compensation", "open_return",
                            "refuse_delivery"})


class Conversation:
    def __init__(self, turns: Turns, channel: Channel, handoff: HandoffPort | None = None, *,
                 limiter: RateLimiter | None = None, budget: Budget | float = 0.0) -> None:
        self.turns = turns
        self.store = turns.store
        self.channel = channel
        self.handoff: HandoffPort = handoff or NoHandoff()
        self.limiter = limiter or RateLimiter(0)
        self.budget = budget if isinstance(budget, Budget) else Budget(budget)  # LOOKUP_BUDGET_SECONDS

    # ---- entry --------------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Reply | None:
        """Handle one buyer input. Never raises: on a failure the buyer gets the internal-error text."""
        try:
            return await self._handle(inbound)
        except Exception:  # a buyer is never left without an answer
            log.exception("input %s failed in conversation %s", inbound.receipt or inbound.kind, inbound.conversation)
            await self.internal_error(inbound.conversation, inbound.buyer)
            return None

    async def _handle(self, m: Inbound) -> Reply | None:
        c = m.conversation
        leaving = isinstance(m.event, Command) and m.event.name == "bot"
        if not leaving and await self.handoff.is_active(c):
            if m.kind != "press":  # a stale button pressed while with an agent: nothing to relay
                await self.handoff.relay_from_buyer(c, m)  # idempotent per source message
            await self.record(m, "relayed")
            return None
        if m.edited:  # an edit outside a handoff: the bot already answered the original
            await self.record(m, "ignored", transcript=False)
            return None
        verdict = self.limiter.check(c, time.monotonic())
        if verdict != ALLOW:
            if verdict == WARN:
                await self.say(c, m.buyer, "common.slow_down")
            await self.record(m, "rate_limited", {"rate_limited": True})
            return None
        if leaving:  # leave the agents' queue; the engine then greets and shows the menu
            await self.handoff.buyer_left(c)
        if isinstance(m.event, Command) and m.event.name == "history":
            await self.send_history(c)
            await self.record(m, "done")
            return None
        if m.event is None:
            await self.say(c, m.buyer, m.refusal or "common.media_not_expected")
            await self.record(m, "refused")
            return None
        return await self.turn(c, m.buyer, m.event, incoming=(m.kind, m.text), receipt=m.receipt)

    async def record(self, m: Inbound, outcome: str, meta: dict | None = None, *, transcript: bool = True) -> None:
        """The buyer's message in the transcript and its update's outcome, in one transaction
        (a replay after a crash records neither twice)."""
        if transcript:
            await self.store.add_incoming(m.conversation, m.kind, m.text, meta, receipt=m.receipt, outcome=outcome)
        elif m.receipt is not None:
            await self.store.inbox_finish(m.receipt, outcome)

    # ---- turns --------------------------------------------------------------------------------
    async def turn(self, conversation: str, buyer: Buyer, event: Event, *,
                   incoming: tuple[str, str] | None = None, receipt: str | None = None) -> Reply:
        """An engine turn, delivered, then its follow-ups. With a `receipt`, the turn is saved as
        the outcome of that stored update (so a crash after this point never runs it again).
        Past the time budget the buyer hears that we are checking; the reply follows when ready."""
        working = getattr(self.channel, "working", None)  # ports.ShowsWorking: a channel that shows "typing"
        reply = await self.budget.run(
            conversation, self.turns.handle(conversation, event, buyer, incoming=incoming, receipt=receipt),
            on_late=lambda: self.say(conversation, buyer, "common.checking"),
            working=(lambda: working(conversation)) if working is not None else None)
        await self.channel.deliver(conversation, reply)
        await self.follow_up(conversation, buyer, reply)
        return reply

    async def complete(self, pending: PendingUpdate) -> None:
        """A turn saved before a crash: deliver the replies that were not, then run its follow-ups."""
        c = pending.chat_id
        state = await self.store.load_state(c)
        buyer = Buyer(id=c)
        lang = self.turns.language(state, buyer)
        entries = [e for e in await self.store.messages_by_id(pending.reply_ids) if e.delivered is None]
        if entries:
            outgoing = [Outgoing(e.kind, e.text, e.meta) for e in entries]
            await self.channel.deliver(c, Reply(outgoing, [], lang, [e.id for e in entries]))
        await self.follow_up(c, buyer, Reply([], list(effects_of(pending.followups)), lang))

    async def start_flow(self, conversation: str, buyer: Buyer, flow_id: str) -> Reply:
        """Put the buyer into a flow (an agent's /flow, the no-agent fallback)."""
        return await self.turn(conversation, buyer, StartFlow(flow_id))

    async def follow_up(self, conversation: str, buyer: Buyer, reply: Reply) -> None:
        """What the turn asked of people: a handoff to agents, notices to the shop's staff."""
        wanted = [e for e in reply.effects if isinstance(e, (Handoff, Action))]
        if not wanted:
            return
        state = await self.store.load_state(conversation)
        if state is not None:
            for effect in wanted:
                if isinstance(effect, Handoff):
                    await self.handoff.start(conversation, buyer, effect, state)
                else:
                    await self.handoff.notify_action(conversation, buyer, effect, state)
        if not self.handoff.available and any(isinstance(e, Handoff) for e in wanted):
            # nobody can take it here: say so now instead of leaving the buyer waiting
            await self.start_flow(conversation, buyer, NO_AGENT)
        elif not self.handoff.available and any(isinstance(e, Action) and e.name in STAFF_REQUESTS for e in wanted):
            # no staff in this channel: the request is recorded, but nobody will answer it here
            await self.say(conversation, buyer, "handoff.no_staff_for_request")

    async def waiting(self, conversation: str, buyer: Buyer) -> None:
        """A front end holds an input of this buyer until their running turn ends: if that turn is
        past its budget, tell them once that we are still checking and will answer it right after."""
        if self.budget.claim_still_checking(conversation):
            await self.say(conversation, buyer, "common.still_checking")

    # ---- answers without an engine turn -------------------------------------------------------
    async def lang_of(self, conversation: str, buyer: Buyer) -> str:
        return self.turns.language(await self.store.load_state(conversation), buyer)

    async def say(self, conversation: str, buyer: Buyer, msgid: str) -> None:
        await self.channel.send_text(conversation, self.turns.text(msgid, await self.lang_of(conversation, buyer)))

    async def send_history(self, conversation: str) -> None:
        entries = await self.store.transcript(conversation)
        arrows = {"in": ">", "agent": "<<"}
        lines = [f"{_when(e.at)} {arrows.get(e.direction, '<')} {e.text}" for e in entries if e.text]
        await self.channel.send_file(conversation, "history.txt", ("\n".join(lines) + "\n").encode())

    async def internal_error(self, conversation: str, buyer: Buyer) -> None:
        """The fixed internal-error text in the buyer's language; the store may be what failed."""
        try:
            lang = await self.lang_of(conversation, buyer)
        except Exception:  # noqa: BLE001
            lang = self.turns.language(None, buyer)
        try:
            await self.channel.send_text(conversation, self.turns.text("system.internal_error", lang))
        except Exception:  # nothing more we can do; the log has it
            log.exception("internal-error message to %s not delivered", conversation)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
