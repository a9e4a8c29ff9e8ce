"""Demo orders: one per scenario the flows handle, with dates relative to `now`.

`ozonbot orders list` prints them with the phone digits that confirm each, so a newcomer knows what
to type. Numbers look like real Ozon ones; none is a real order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.orders.model import Cancellation, Initiator, Money, Order, Product, ReturnInfo, Scheme

H = timedelta(hours=1)
D = timedelta(days=1)

_PRODUCTS = [
    ("Беспроводные наушники Soundcore <Life Q30> & чехол", Decimal("5990.00")),
    ("Чайник электрический Xiaomi Mi Smart Kettle 1,5 л", Decimal("2490.00")),
    ("Кроссовки Li-Ning Soft Go, размер 42", Decimal("6790.00")),
    ("Power bank Baseus 20000 мА·ч", Decimal("2199.50")),
    ("Набор зелёного чая Лунцзин, 250 г", Decimal("1234.50")),
    ("Смартфон Redmi Note 13 8/256 ГБ", Decimal("21990.00")),
]

# The rest of the demo shop's catalogue (no demo order holds these): decoys for the ownership
# question of orders without a phone, as a real shop's other products would be.
SHOP_CATALOGUE = (
    "Термокружка Xiaomi 480 мл",
    "Робот-пылесос Dreame D10 Plus",
    "Фитнес-браслет Huawei Band 8",
    "Рюкзак городской Xiaomi Commuter, 21 л",
    "Зарядное устройство Ugreen 65 Вт GaN",
    "Настольная лампа Yeelight LED Pro",
    "Увлажнитель воздуха Deerma F628",
    "Набор посуды Tefal Ingenio, 10 предметов",
)


def _order(i: int, now: datetime, *, status: str, substatus: str = "", created: timedelta = 2 * D,
           in_status: timedelta | None = None, shipment_in: timedelta | None = 1 * D,
           window: tuple[timedelta, timedelta] | None = None, scheme: Scheme = Scheme.FBS,
           cancellation: Cancellation | None = None, returns: list[ReturnInfo] | None = None,
           phone: str | None = "default", paid: bool = True, tracking: str = "", posting_suffix: int = 1,
           order_no: str | None = None, related: list[str] | None = None, products: int = 1,
           cross_border: bool = False) -> Order:
    order_number = order_no or f"{46208000 + i * 137:08d}-{(i * 7) % 10000:04d}"
    items = [
        Product(name=_PRODUCTS[(i + k) % len(_PRODUCTS)][0], sku=1_500_000_000 + i * 10 + k,
                offer_id=f"ART-{i:03d}-{k}",
                quantity=1 + (k % 2), price=Money(amount=_PRODUCTS[(i + k) % len(_PRODUCTS)][1], currency="RUB"))
        for k in range(products)
    ]
    created_at = now - created
    status_changed_at = now - in_status if in_status is not None else created_at + H
    return Order(
        posting_number=f"{order_number}-{posting_suffix}",
        order_number=order_number,
        scheme=scheme,
        status=status,
        substatus=substatus,
        created_at=created_at,
        in_process_at=created_at + H if paid else None,
        status_changed_at=status_changed_at,
        delivered_at=status_changed_at if status == "delivered" else None,
        shipment_date=(now + shipment_in) if shipment_in is not None and scheme != Scheme.FBO else None,
        delivering_date=(now - window[0] - 2 * D) if window else None,
        delivery_date_begin=(now + window[0]) if window else None,
        delivery_date_end=(now + window[1]) if window else None,
        tracking_number=tracking,
        delivery_method="Ozon Логистика, Москва" if scheme != Scheme.RFBS else "Доставка продавца",
        tpl_integration_type={Scheme.FBS: "ozon", Scheme.RFBS: "non_integrated"}.get(scheme, ""),
        cross_border=cross_border,
        city="Москва",
        cancellation=cancellation,
        products=items,
        returns=returns or [],
        phone_last4=(f"{(i * 1379) % 10000:04d}" if phone == "default" else phone),
        phone_digits=(f"916{(i * 7919) % 1000:03d}{(i * 1379) % 10000:04d}" if phone == "default" else None),
        related_postings=related or [],
    )


def demo_orders(now: datetime) -> list[tuple[str, str, Order]]:
    """(key, scenario, order) triples covering every status and every branch of the shipped flows."""
    c = Cancellation
    out: list[tuple[str, str, Order]] = [
        ("packaging_on_time", "awaiting packaging, within the deadline: can be cancelled directly",
         _order(1, now, status="awaiting_packaging", substatus="posting_created", created=5 * H, in_status=4 * H,
                shipment_in=2 * D)),
        ("packaging_seller_late", "awaiting packaging, seller is late (shipment date passed 1 day ago)",
         _order(2, now, status="awaiting_packaging", substatus="posting_created", created=4 * D, in_status=4 * D,
                shipment_in=-1 * D)),
        ("payment_awaiting_approve", "awaiting approval, payment not confirmed yet",
         _order(3, now, status="awaiting_approve", substatus="posting_created", created=6 * H, in_status=6 * H,
                paid=False)),
        ("payment_verification", "awaiting verification, payment being checked",
         _order(4, now, status="awaiting_verification", created=2 * H, in_status=2 * H, paid=False)),
        ("registration_on_time", "awaiting registration with the carrier, on time",
         _order(5, now, status="awaiting_registration", substatus="posting_awaiting_registration", created=1 * D,
                in_status=5 * H)),
        ("registration_error", "carrier registration failed: stuck, no shipping label (agents: /diagnose)",
         _order(6, now, status="awaiting_registration", substatus="posting_registration_error", created=3 * D,
                in_status=2 * D, shipment_in=-6 * H)),
        ("acceptance", "acceptance in progress at the sorting centre",
         _order(7, now, status="acceptance_in_progress", substatus="posting_acceptance_in_progress", created=2 * D,
                in_status=8 * H)),
        ("awaiting_deliver_on_time",
         "packed, awaiting handover to delivery, on time (being packed: ask the seller to cancel)",
         _order(8, now, status="awaiting_deliver", substatus="posting_in_carriage", created=1 * D, in_status=10 * H,
                shipment_in=10 * H)),
        ("awaiting_deliver_late", "packed, awaiting handover, seller late by 2 days (overdue order)",
         _order(9, now, status="awaiting_deliver", substatus="posting_not_in_carriage", created=5 * D, in_status=3 * D,
                shipment_in=-2 * D)),
        ("driver_pickup", "picked up by the driver",
         _order(10, now, status="driver_pickup", substatus="posting_driver_pick_up", created=2 * D, in_status=5 * H,
                tracking="RU123456789CN")),
        ("delivering_on_time", "delivering, on the way to the city, window in 2-4 days",
         _order(11, now, status="delivering", substatus="posting_on_way_to_city", created=3 * D, in_status=1 * D,
                window=(2 * D, 4 * D), tracking="0112233445566")),
        ("delivering_late", "delivering, delivery late by 3 days",
         _order(12, now, status="delivering", substatus="posting_on_way_to_city", created=12 * D, in_status=8 * D,
                window=(-6 * D, -3 * D), tracking="0112233445577")),
        ("at_pickup_point", "delivering, waiting at the pickup point",
         _order(13, now, status="delivering", substatus="posting_in_pickup_point", created=6 * D, in_status=1 * D,
                window=(-1 * D, 1 * D))),
        ("with_courier", "delivering, with the courier today",
         _order(14, now, status="delivering", substatus="posting_in_courier_service", created=4 * D, in_status=3 * H,
                window=(0 * D, 1 * D))),
        ("rfbs_conditionally_delivered",
         "rFBS, conditionally delivered by the seller's own delivery (cannot be cancelled)",
         _order(15, now, status="delivering", substatus="posting_conditionally_delivered", scheme=Scheme.RFBS,
                created=7 * D, in_status=1 * D, window=(-2 * D, 1 * D))),
        ("delivered_received", "delivered and received: a return is possible",
         _order(16, now, status="delivered", substatus="posting_received", created=9 * D, in_status=2 * D, products=2)),
        ("delivered_not_received", "delivered yesterday, buyer says not received (agent)",
         _order(17, now, status="delivered", substatus="posting_delivered", created=6 * D, in_status=1 * D)),
        ("return_in_progress", "delivered, return in progress (moving to the seller)",
         _order(18, now, status="delivered", substatus="posting_received", created=20 * D, in_status=12 * D,
                returns=[ReturnInfo(id=9001, type="ClientReturn", status="MovingToSeller", reason="Не подошёл размер",
                                    created_at=now - 5 * D)])),
        ("return_refunded", "delivered, returned and refunded",
         _order(19, now, status="delivered", substatus="posting_received", created=30 * D, in_status=25 * D,
                returns=[ReturnInfo(id=9002, type="ClientReturn", status="MoneyReturned", reason="Брак",
                                    created_at=now - 20 * D)])),
        ("cancelled_by_buyer", "cancelled by the buyer (found it cheaper)",
         _order(20, now, status="cancelled", substatus="posting_canceled", created=3 * D, in_status=2 * D,
                cancellation=c(reason_id=506, reason="Нашёл дешевле", initiator=Initiator.BUYER))),
        ("cancelled_out_of_stock", "cancelled by the seller: out of stock",
         _order(21, now, status="cancelled", substatus="posting_canceled", created=4 * D, in_status=3 * D,
                cancellation=c(reason_id=352, reason="Товар закончился на складе продавца",
                               initiator=Initiator.SELLER))),
        ("cancelled_price_error", "cancelled by the seller: price error",
         _order(22, now, status="cancelled", substatus="posting_canceled", created=2 * D, in_status=1 * D,
                cancellation=c(reason_id=402, reason="Ошибка в цене товара", initiator=Initiator.SELLER))),
        ("cancelled_payment", "cancelled by Ozon: payment did not go through",
         _order(23, now, status="cancelled", substatus="posting_canceled", created=1 * D, in_status=20 * H, paid=False,
                cancellation=c(reason_id=0, reason="Оплата не поступила", initiator=Initiator.OZON))),
        ("cancelled_by_system", "cancelled by the system: rule check (suspicious order)",
         _order(24, now, status="cancelled", substatus="posting_canceled", created=2 * D, in_status=2 * D,
                cancellation=c(reason_id=0, reason="Заказ отменён системой", initiator=Initiator.SYSTEM))),
        ("cancelled_lost_in_delivery", "cancelled by the delivery service after shipping: parcel lost",
         _order(25, now, status="cancelled", substatus="posting_canceled", created=15 * D, in_status=3 * D,
                cancellation=c(reason_id=667, reason="Заказ утерян службой доставки", initiator=Initiator.DELIVERY,
                               cancelled_after_ship=True))),
        ("cancelled_not_picked_up", "cancelled: the buyer did not pick it up from the pickup point",
         _order(26, now, status="cancelled", substatus="posting_canceled", created=20 * D, in_status=4 * D,
                cancellation=c(reason_id=665, reason="Покупатель не забрал заказ", initiator=Initiator.SYSTEM,
                               cancelled_after_ship=True))),
        ("cancelled_split", "cancelled because the posting was split into new ones",
         _order(27, now, status="cancelled_from_split_pending", created=1 * D, in_status=20 * H)),
        ("arbitration", "arbitration: handed over but never scanned (agent)",
         _order(28, now, status="arbitration", substatus="posting_in_arbitration", created=10 * D, in_status=4 * D)),
        ("client_arbitration", "delivery dispute opened by the buyer (agent)",
         _order(29, now, status="client_arbitration", substatus="posting_in_client_arbitration", created=14 * D,
                in_status=3 * D)),
        ("not_accepted", "not accepted at the sorting centre",
         _order(30, now, status="not_accepted", substatus="posting_not_in_sort_center", created=4 * D,
                in_status=1 * D)),
        ("rfbs_sent_by_seller", "rFBS, sent by the seller's own delivery",
         _order(31, now, status="sent_by_seller", scheme=Scheme.RFBS, created=5 * D, in_status=2 * D,
                tracking="RR987654321RU")),
        ("fbo_no_phone", "FBO, delivering from an Ozon warehouse, no phone on file: the buyer names the product "
                         "and the order date",
         _order(34, now, status="delivering", substatus="posting_on_way_to_pickup_point", scheme=Scheme.FBO,
                created=3 * D, in_status=1 * D, phone=None)),
        ("fbo_awaiting_deliver", "FBO, awaiting handover at the Ozon warehouse",
         _order(35, now, status="awaiting_deliver", substatus="posting_transferring_to_delivery", scheme=Scheme.FBO,
                created=1 * D, in_status=6 * H)),
        ("unknown_status", "a status this bot does not know yet (kept raw, safe branch)",
         _order(36, now, status="ship_in_process", created=1 * D, in_status=5 * H)),
    ]
    def returned(i: int, key: str, scenario: str, status: str) -> tuple[str, str, Order]:
        return (key, scenario,
                _order(i, now, status="delivered", substatus="posting_received", created=25 * D, in_status=15 * D,
                                      returns=[ReturnInfo(id=9000 + i, type="ClientReturn", status=status,
                                                          reason="Не подошёл размер", created_at=now - 8 * D)]))

    out += [
        ("packaging_no_deadline", "awaiting packaging, no shipment deadline set yet",
         _order(37, now, status="awaiting_packaging", substatus="posting_created", created=3 * H, in_status=2 * H,
                shipment_in=None)),
        ("payment_just_placed", "placed a few minutes ago, payment not confirmed yet",
         _order(38, now, status="awaiting_approve", substatus="posting_created", created=10 * timedelta(minutes=1),
                in_status=10 * timedelta(minutes=1), paid=False)),
        ("cancelled_seller_other", "cancelled by the seller for another reason",
         _order(39, now, status="cancelled", substatus="posting_canceled", created=3 * D, in_status=2 * D,
                cancellation=c(reason_id=401, reason="Продавец отклонил арбитраж", initiator=Initiator.SELLER))),
        ("cancelled_unknown_initiator", "cancelled, Ozon did not say by whom",
         _order(40, now, status="cancelled", substatus="posting_canceled", created=3 * D, in_status=1 * D,
                cancellation=c(reason_id=0, reason="", initiator=Initiator.UNKNOWN))),
        returned(41, "return_rejected", "delivered, return request rejected", "Rejected"),
        returned(42, "return_received_by_seller", "delivered, returned item received by the seller",
                 "ReceivedBySeller"),
        returned(43, "return_under_review", "delivered, return waiting for the seller's decision", "OnSellerApproval"),
        returned(44, "return_cancelled", "delivered, return request cancelled", "Cancelled"),
        returned(45, "return_other_state", "delivered, return in a state the bot has no group for", "Utilizing"),
    ]
    # The delivery scheme and the situation decide who can act and where a buyer complains.
    out += [
        ("fbo_packaging", "FBO, being packed at Ozon's warehouse: the shop cannot cancel it",
         _order(46, now, status="awaiting_packaging", substatus="posting_packing", scheme=Scheme.FBO,
                created=5 * H, in_status=4 * H)),
        ("fbo_delivered_not_received", "FBO, delivered yesterday, buyer says not received: a claim to Ozon",
         _order(47, now, status="delivered", substatus="posting_delivered", scheme=Scheme.FBO,
                created=5 * D, in_status=1 * D)),
        ("rfbs_delivered_not_received", "rFBS (our own delivery), delivered, not received: the shop handles it",
         _order(48, now, status="delivered", substatus="posting_delivered", scheme=Scheme.RFBS,
                created=8 * D, in_status=1 * D)),
        ("cross_border_passport", "cross-border rFBS, waiting for the buyer's passport data for customs",
         _order(49, now, status="awaiting_packaging", substatus="posting_awaiting_passport_data", scheme=Scheme.RFBS,
                cross_border=True, created=10 * H, in_status=9 * H, shipment_in=2 * D)),
        ("cross_border_in_transit", "cross-border rFBS on its way from abroad, window in 8-20 days (customs)",
         _order(50, now, status="delivering", substatus="posting_on_way_to_city", scheme=Scheme.RFBS, cross_border=True,
                created=6 * D, in_status=4 * D, window=(8 * D, 20 * D), tracking="LP00123456789CN")),
        ("cross_border_late", "cross-border rFBS, delivery window passed 3 days ago",
         _order(51, now, status="delivering", substatus="posting_on_way_to_city", scheme=Scheme.RFBS, cross_border=True,
                created=30 * D, in_status=20 * D, window=(-10 * D, -3 * D), tracking="LP00987654321CN")),
        ("rfbs_delivery_late", "rFBS with our own delivery, delivery late by 2 days",
         _order(52, now, status="delivering", substatus="posting_in_courier_service", scheme=Scheme.RFBS,
                created=9 * D, in_status=4 * D, window=(-4 * D, -2 * D))),
        ("delivered_long_ago", "delivered 12 days ago: past the 7 days for a change-of-mind return",
         _order(53, now, status="delivered", substatus="posting_received", created=16 * D, in_status=12 * D)),
    ]
    out.append(("fbs_ozon_no_phone", "FBS delivered by Ozon, no phone in the API: the buyer names the product and "
                                     "the order date",
                _order(54, now, status="delivering", substatus="posting_on_way_to_pickup_point", created=4 * D,
                       in_status=1 * D, window=(1 * D, 3 * D), phone=None, tracking="0112233445588")))
    # One order with two postings: the buyer proves it is theirs, then picks which one they mean.
    multi = f"{46208000 + 32 * 137:08d}-{(32 * 7) % 10000:04d}"
    first = _order(32, now, status="delivering", substatus="posting_in_courier_service", created=3 * D, in_status=5 * H,
                   window=(0 * D, 1 * D), order_no=multi, posting_suffix=1, related=[f"{multi}-2"])
    second = _order(32, now, status="awaiting_packaging", substatus="posting_created", created=3 * D, in_status=3 * D,
                    shipment_in=1 * D, order_no=multi, posting_suffix=2, related=[f"{multi}-1"])
    out.append(("multi_posting_1", "order with two postings, part 1: with the courier", first))
    out.append(("multi_posting_2", "order with two postings, part 2: still being packed", second))
    return out


def scenario_rows(now: datetime) -> list[dict[str, Any]]:
    return [
        {"posting_number": o.posting_number, "key": key, "order_number": o.order_number, "status": o.status,
         "phone_last4": o.phone_last4 or "", "scenario": scenario, "data": o.model_dump_json()}
        for key, scenario, o in demo_orders(now)
    ]
