"""The demo shop as a `PostingSource`: the demo orders (as seeded, they do not move) plus a few live
postings that move through their statuses on the wall clock, so the mirror, its changes and the
push endpoint all run with no Seller API token.

Each live posting follows a script of stages, `step` seconds each; when the script ends a new
cycle starts with a new posting number (a new order in the shop). Stages are computed from the
wall clock, so a restart continues where the clock is, not from the start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.orders.demo import DemoOrderProvider
from bot.orders.model import Cancellation, Initiator, Money, Order, Product, ReturnInfo, Scheme
from bot.orders.numbers import OrderRef

PACK = ("awaiting_packaging", "posting_created")
HANDOVER = ("awaiting_deliver", "posting_transferring_to_delivery")
ON_WAY = ("delivering", "posting_on_way_to_city")
PICKUP = ("delivering", "posting_in_pickup_point")
DELIVERED = ("delivered", "posting_received")
CANCELLED = ("cancelled", "posting_canceled")

# (status, substatus) per stage. Deadlines, in steps from the cycle's start: shipment 2 (1.5 for the
# late one, still packing at 1-2), delivery end 5 (3.5 for the late one, still on its way at 3-4).
SCRIPTS: dict[str, tuple[tuple[str, str], ...]] = {
    "live_on_time": (PACK, HANDOVER, ON_WAY, PICKUP, DELIVERED),
    "live_shipment_late": (PACK, PACK, HANDOVER, ON_WAY, DELIVERED),
    "live_delivery_late": (PACK, HANDOVER, ON_WAY, ON_WAY, PICKUP),
    "live_cancelled": (PACK, PACK, CANCELLED, CANCELLED, CANCELLED),
}
PRODUCT = Product(name="Термос Xiaomi 500 мл", sku=1_500_009_001, offer_id="ART-LIVE-1", quantity=1,
                  price=Money(amount=Decimal("1590.00")))


class DemoSource:
    def __init__(self, demo: DemoOrderProvider, *, step: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.demo, self.step, self._clock = demo, step, clock

    # --- the live postings ---------------------------------------------------------------------

    def live(self, now: float | None = None) -> list[Order]:
        now = self._clock() if now is None else now
        return [self._posting(i, key, now) for i, key in enumerate(SCRIPTS)]

    def _posting(self, i: int, key: str, now: float) -> Order:
        script = SCRIPTS[key]
        cycle_len = self.step * len(script)
        offset = i * self.step / len(SCRIPTS)  # the four do not move at the same moment
        cycle, into = divmod(now - offset, cycle_len)
        stage = int(into // self.step)
        start = now - into  # this cycle's start
        status, substatus = script[stage]
        stage_at = start + stage * self.step
        order_number = f"{46300000 + i * 1000 + int(cycle) % 1000:08d}-{(int(cycle) * 37 + i) % 10000:04d}"

        def at(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        ship = start + (1.5 if key == "live_shipment_late" else 2) * self.step
        delivery_end = start + (3.5 if key == "live_delivery_late" else 5) * self.step
        cancellation = (Cancellation(reason_id=506, reason="Нашёл дешевле", initiator=Initiator.BUYER)
                        if status == "cancelled" else None)
        return Order(
            posting_number=f"{order_number}-1", order_number=order_number, scheme=Scheme.FBS, status=status,
            substatus=substatus, created_at=at(start), in_process_at=at(start), status_changed_at=at(stage_at),
            shipment_date=at(ship), delivering_date=at(start + 2 * self.step) if stage >= 2 else None,
            delivery_date_begin=at(start + 3 * self.step) if status != "awaiting_packaging" else None,
            delivery_date_end=at(delivery_end) if status != "awaiting_packaging" else None,
            delivery_method="Ozon Логистика, Москва", tpl_integration_type="ozon", city="Москва",
            cancellation=cancellation, products=[PRODUCT],
            delivered_at=at(stage_at) if status == "delivered" else None,
            phone_last4=f"{(i + 1) * 1111 % 10000:04d}", phone_digits=f"9160000{(i + 1) * 111:03d}",
        )

    # --- PostingSource -------------------------------------------------------------------------

    async def _static(self) -> list[Order]:
        return await self.demo.all()

    async def changed(self, since: datetime, until: datetime) -> list[Order]:
        return [o for o in self.live(until.timestamp())
                if o.status_changed_at is not None and since <= o.status_changed_at <= until]

    async def listed(self, since: datetime, until: datetime) -> list[Order]:
        orders = await self._static() + self.live(until.timestamp())
        return [o for o in orders if since - timedelta(days=366) <= o.created_at <= until]

    async def returns(self, since: datetime, until: datetime) -> dict[str, list[ReturnInfo]]:
        return {}  # the demo orders carry their returns in their own data

    async def get(self, posting_number: str) -> Order | None:
        for order in self.live():
            if order.posting_number == posting_number:
                return order
        found = await self.demo.find(OrderRef(posting_number.rsplit("-", 1)[0], posting_number))
        return found[0] if found else None

    async def order(self, order_number: str) -> list[Order]:
        live = [o for o in self.live() if o.order_number == order_number]
        return live or await self.demo.find(OrderRef(order_number))

    async def close(self) -> None:
        await self.demo.close()
