"""What the order mirror tells the rest of the bot when a posting moves.

The mirror (sync with the Seller API, Ozon push notifications, targeted reads) compares each posting
it receives with the copy it holds and emits one `PostingChange` per event that matters to a buyer
or an agent. Consumers (buyers' order watches, the agents' digest) subscribe with a `ChangeSink`.

`key` identifies the event, not the delivery: the same push received twice, or a sync that reads a
posting a push already brought, gives the same key, so a consumer that records keys it has handled
acts exactly once per (posting, event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.orders.model import Order


class ChangeKind(StrEnum):
    NEW = "new"  # the mirror sees this posting for the first time
    STATUS = "status"  # status (or substatus) changed; `detail` is the new status
    CANCELLED = "cancelled"  # cancelled; `detail` is Ozon's cancel reason id or text, when known
    DELIVERY_DATE = "delivery_date"  # a new expected delivery date; `detail` is the date (ISO)
    CUTOFF_DATE = "cutoff_date"  # the shipping deadline moved; `detail` is the moment (ISO)
    SHIPMENT_LATE = "shipment_late"  # not handed to delivery by its cutoff
    DELIVERY_LATE = "delivery_late"  # not delivered by the expected date
    AT_PICKUP_POINT = "at_pickup_point"  # waits at the pickup point; `detail` is the storage deadline (ISO), if known
    REFUND = "refund"  # money sent back to the buyer


@dataclass(frozen=True, slots=True)
class PostingChange:
    posting_number: str
    kind: ChangeKind
    detail: str  # what the event is about (new status, date, reason); "" when nothing more
    at: datetime  # when it happened, as Ozon says (UTC), else when the mirror saw it
    order: Order  # the posting as the mirror holds it after the change
    source: str  # "push", "sync" or "lookup": where the mirror learned it

    @property
    def key(self) -> str:
        """One (posting, event): the same however often or in whatever order it arrives."""
        return f"{self.posting_number}|{self.kind.value}|{self.detail}"


ChangeSink = Callable[[Sequence[PostingChange]], Awaitable[None]]
