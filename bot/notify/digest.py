"""The agents' digest: every AGENT_DIGEST_MINUTES, one message in the agents' group listing the
postings at risk, before a buyer has to complain (seeds 002 and 003):

- near their shipping cutoff and still not packed;
- carrier registration failed, or no label long after packing (with the /diagnose text);
- shipment late (not handed over by the cutoff) and delivery late (past the promised date);

each with a button that opens the order card. One message per interval at most (queued under
`digest:<interval number>`, so a restart within the interval sends nothing twice), none when there
is nothing to report. The postings come from an `AtRisk` source: the order mirror implements it;
`OrdersAtRisk` filters a list of orders (tests, the demo shop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram.constants import ParseMode

from bot.engine.ports import Clock, SystemClock
from bot.handoff.card import MAX_TEXT, AgentTexts, Safe
from bot.handoff.diagnose import REGISTRATION_SLOW_HOURS, diagnose
from bot.i18n.keys import Day, Duration
from bot.notify.records import NotifyRecords
from bot.orders.facts import BEFORE_PACKING, CANCELLED, OrderFacts
from bot.orders.model import Order

log = logging.getLogger(__name__)

CARD_PREFIX = "nd:c:"  # a digest button: the order card of a posting ("nd:c:<posting>")
SECTIONS = ("registration", "shipment_late", "near_cutoff", "delivery_late")  # in the digest's order
LINES_PER_SECTION = 10
DIAGNOSES = 3  # registration problems shown with their whole /diagnose text
BUTTONS = 20  # order-card buttons at most (two a row)


class AtRisk(Protocol):
    """What the digest reads from the shop's postings (the order mirror implements it)."""

    async def postings_at_risk(self, now: datetime, horizon: timedelta) -> Sequence[Order]:
        """Every posting not delivered nor cancelled that is either before handover with a
        `shipment_date` earlier than `now + horizon`, or waiting for carrier registration (or failed
        it), or delivering past its `delivery_date_end`. A superset is fine: the digest sorts them."""
        ...


@dataclass
class OrdersAtRisk:
    """`AtRisk` over a list of orders (tests; the demo shop through `DemoOrderProvider`'s orders)."""

    orders: Callable[[], Iterable[Order]]

    async def postings_at_risk(self, now: datetime, horizon: timedelta) -> Sequence[Order]:
        return [o for o in self.orders() if section_of(o, now, horizon) is not None]


@dataclass
class MirrorAtRisk:
    """`AtRisk` over the order mirror's store (`MirrorStore.overdue(moment)`: postings in a packing status
    with `shipment_date` before the moment, or delivering past `delivery_date_end`). Looking a few
    days ahead also brings registration problems before their cutoff; one with no cutoff at all is
    not listed until the mirror can list postings by status."""

    store: Any
    lookahead: timedelta = timedelta(days=3)

    async def postings_at_risk(self, now: datetime, horizon: timedelta) -> Sequence[Order]:
        rows = await self.store.overdue(now + max(horizon, self.lookahead))
        return [row.order for row in rows if section_of(row.order, now, horizon) is not None]


def section_of(order: Order, now: datetime, horizon: timedelta) -> str | None:
    """Which part of the digest a posting belongs to, if any."""
    if order.status in CANCELLED or order.status == "delivered":
        return None
    f = OrderFacts(order, now)
    if order.substatus == "posting_registration_error":
        return "registration"
    if (order.status == "awaiting_registration" or order.substatus == "posting_awaiting_registration") \
            and f.hours_in_status >= REGISTRATION_SLOW_HOURS:
        return "registration"
    if f.seller_late:
        return "shipment_late"
    if order.status in BEFORE_PACKING and order.shipment_date is not None and order.shipment_date <= now + horizon:
        return "near_cutoff"
    if f.delivery_late:
        return "delivery_late"
    return None


@dataclass
class DigestText:
    text: str
    buttons: list[list[list[str]]] = field(default_factory=list)
    postings: list[str] = field(default_factory=list)


def compose(orders: Sequence[Order], texts: AgentTexts, now: datetime, horizon: timedelta) -> DigestText | None:
    """The digest's HTML text and buttons, or None when nothing is at risk."""
    sections: dict[str, list[Order]] = {name: [] for name in SECTIONS}
    for o in orders:
        name = section_of(o, now, horizon)
        if name is not None:
            sections[name].append(o)
    if not any(sections.values()):
        return None
    t = texts.t
    for name in sections:  # the most urgent first: the earliest deadline
        sections[name].sort(key=lambda o: (o.shipment_date or o.delivery_date_end or o.created_at, o.posting_number))
    out = ["<b>" + t("notify.digest.title", time=now) + "</b>"]
    shown: list[str] = []
    for name, found in sections.items():
        if not found:
            continue
        out += ["", "<b>" + t(f"notify.digest.{name}", count=len(found)) + "</b>"]
        for i, o in enumerate(found[:LINES_PER_SECTION]):
            out.append("• " + _line(name, o, texts, now))
            shown.append(o.posting_number)
            if name == "registration" and i < DIAGNOSES:
                out.append("<blockquote>" + texts.diagnosis(diagnose(o, now), o, now) + "</blockquote>")
        if len(found) > LINES_PER_SECTION:
            out.append(t("notify.digest.more", count=len(found) - LINES_PER_SECTION))
    out += ["", "<i>" + t("notify.digest.hint") + "</i>"]
    text = "\n".join(out)
    if len(text) > MAX_TEXT:  # keep whole lines, and HTML balanced: drop the long diagnoses first
        text = "\n".join(line for line in out if not line.startswith("<blockquote>"))[:MAX_TEXT]
    buttons = [[t("notify.digest.card_button", posting=p), CARD_PREFIX + p] for p in shown[:BUTTONS]]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return DigestText(text, rows, shown)


def _line(section: str, o: Order, texts: AgentTexts, now: datetime) -> str:
    f = OrderFacts(o, now)
    status: str = texts.label(str(f.status_label), o.status)
    if o.substatus:
        status += " · " + texts.label(str(f.substatus_label), o.substatus)
    p, st = o.posting_number, Safe(status)
    if section == "near_cutoff":
        return texts.t("notify.digest.line_cutoff", posting=p, status=st, date=o.shipment_date)
    if section == "shipment_late":
        return texts.t("notify.digest.line_shipment_late", posting=p, status=st, late=Duration(f.hours_seller_late))
    if section == "delivery_late":
        return texts.t("notify.digest.line_delivery_late", f.days_delivery_late, posting=p,
                       date=Day.of(o.delivery_date_end))
    return texts.t("notify.digest.line_registration", posting=p, status=st)


class Digest:
    """Queues the digest once per interval (`tick`), or runs that every interval (`start`)."""

    def __init__(self, source: AtRisk, records: NotifyRecords, texts: AgentTexts, group_id: int, *,
                 minutes: float, horizon: timedelta = timedelta(hours=12), clock: Clock | None = None,
                 wake: Callable[[], None] | None = None) -> None:
        if minutes <= 0:
            raise ValueError("the digest interval must be positive (AGENT_DIGEST_MINUTES=0 turns it off)")
        self.source = source
        self.records = records
        self.texts = texts
        self.group_id = group_id
        self.interval = minutes * 60.0
        self.horizon = horizon
        self.clock = clock or SystemClock()
        self.wake = wake
        self._done_slot: int | None = None
        self._task: asyncio.Task | None = None
        self.leader: Callable[[], bool] | None = None  # several processes: only the leader queues it

    def slot(self, now: datetime) -> int:
        return int(now.timestamp() // self.interval)

    async def tick(self) -> bool:
        """Queue this interval's digest unless done already or nothing is at risk; True when queued."""
        now = self.clock.now()
        slot = self.slot(now)
        if slot == self._done_slot:
            return False
        digest = compose(await self.source.postings_at_risk(now, self.horizon), self.texts, now, self.horizon)
        self._done_slot = slot
        if digest is None:
            return False
        payload: dict[str, Any] = {"text": digest.text, "parse_mode": ParseMode.HTML, "buttons": digest.buttons}
        queued = await self.records.enqueue(f"digest:{self.group_id}:{slot}", self.group_id, payload,
                                            now.timestamp()) is not None
        if queued and self.wake is not None:
            self.wake()
        return queued

    def start(self) -> None:
        async def loop() -> None:
            while True:
                try:
                    if self.leader is None or self.leader():
                        await self.tick()
                except Exception:  # one bad pass (the order backend down) must not stop the digest
                    log.exception("agents' digest")
                now = self.clock.now().timestamp()
                await asyncio.sleep(max(1.0, self.interval - now % self.interval + 1.0))

        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(loop(), name="agents-digest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
