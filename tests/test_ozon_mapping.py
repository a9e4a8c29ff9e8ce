"""Tolerant mapping of Seller API JSON into Order."""

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.orders.model import Cancellation, Initiator, ReturnInfo, Scheme
from bot.orders.ozon.mapping import cancel_reasons, fbo_order, fbs_order, key_roles, listed_postings, returns_of
from tests.fake_ozon import posting_json, return_json, sample


def test_fbs_round_trip_keeps_what_the_buyer_sees():
    order = sample(related_postings=["12345678-0001-2"])
    got = fbs_order(posting_json(order))
    assert got.model_dump(exclude={"created_at"}) == order.model_dump(exclude={"created_at"})
    assert got.created_at == order.in_process_at  # FBS get has no created_at: processing start stands in


def test_payout_and_commissions_never_leak():
    raw = posting_json(sample())
    assert raw["financial_data"]["products"][0]["payout"] == 777.77
    dumped = fbs_order(raw).model_dump_json()
    for secret in ("777.77", "123.45", "payout", "commission"):
        assert secret not in dumped


def test_price_is_what_the_customer_paid_when_given():
    raw = posting_json(sample())
    raw["financial_data"]["products"][0]["customer_price"] = 1999.5
    raw["financial_data"]["products"][0]["customer_currency_code"] = "RUB"
    raw["products"][0]["currency_code"] = "CNY"
    assert fbs_order(raw).products[0].price.amount == Decimal("1999.50")
    del raw["financial_data"]
    price = fbs_order(raw).products[0].price
    assert (price.amount, price.currency) == (Decimal("2490.00"), "CNY")


def test_tariffication_array_or_object_both_parse():
    raw = posting_json(sample(status="awaiting_packaging"))
    as_array = fbs_order(raw)
    raw["tariffication"] = {"current_tariff_rate": 5, "next_tariff_starts_at": "2026-05-01T10:00:00Z"}
    raw["tariffication_steps"] = [{"tariff_deadline_at": "9999-12-31T23:59:59Z", "tariff_rate": 10}]
    assert fbs_order(raw) == as_array


def test_unknown_status_and_substatus_are_kept_raw():
    raw = posting_json(sample()) | {"status": "ship_in_process", "substatus": "posting_teleporting"}
    got = fbs_order(raw)
    assert (got.status, got.substatus, got.status_known) == ("ship_in_process", "posting_teleporting", False)


def test_cancellation_block():
    raw = posting_json(sample(status="cancelled"))
    raw["cancellation"] = {"cancel_reason_id": 506, "cancel_reason": "Нашёл дешевле", "cancellation_type": "client",
                           "cancelled_after_ship": False, "affect_cancellation_rating": False,
                           "cancellation_initiator": "Клиент"}
    assert fbs_order(raw).cancellation == Cancellation(reason_id=506, reason="Нашёл дешевле", initiator=Initiator.BUYER)
    raw["cancellation"] |= {"cancellation_type": "", "cancellation_initiator": "Служба доставки",
                            "cancelled_after_ship": True}
    c = fbs_order(raw).cancellation
    assert c.initiator is Initiator.DELIVERY and c.cancelled_after_ship
    raw["cancellation"] = {"cancel_reason_id": 0, "cancel_reason": "", "cancellation_type": ""}
    assert fbs_order(raw).cancellation is None


def test_phone_last4_only_where_given():
    raw = posting_json(sample())
    assert fbs_order(raw).phone_last4 == "4321"
    raw["addressee"] = None
    raw["customer"] = {"customer_id": 1, "name": "Иван", "phone": "+7 999 000-12-34", "address": {"city": "Казань"}}
    assert fbs_order(raw).phone_last4 == "1234"
    raw["customer"] = {"phone": ""}
    assert fbs_order(raw).phone_last4 is None
    raw["customer"] = None
    assert fbs_order(raw).phone_last4 is None


def test_rfbs_is_recognised_by_integration_type():
    raw = posting_json(sample())
    assert fbs_order(raw).scheme is Scheme.FBS
    for tpl in ("non_integrated", "aggregator", "3pl_tracking"):
        assert fbs_order(raw | {"tpl_integration_type": tpl}).scheme is Scheme.RFBS


def test_fbo_posting():
    order = sample(scheme=Scheme.FBO, phone_last4=None, tracking_number="", status="cancelled",
                   cancellation=Cancellation(reason_id=667))
    got = fbo_order(posting_json(order))
    assert got.scheme is Scheme.FBO and got.phone_last4 is None and got.shipment_date is None
    assert got.cancellation == Cancellation(reason_id=667)
    assert got.delivery_date_end == order.delivery_date_end
    assert "777.77" not in got.model_dump_json()


def test_missing_and_malformed_fields_do_not_raise():
    got = fbs_order({"posting_number": "1234567-0001-1", "status": None, "products": [{"price": "n/a"}, None, 3],
                     "in_process_at": "not a date", "shipment_date": "0001-01-01T00:00:00Z", "cancellation": [],
                     "analytics_data": None, "related_postings": {"related_posting_numbers": None}})
    assert got.order_number == "1234567-0001" and got.status == ""
    assert got.products[0].price.amount == 0 and got.shipment_date is None and got.cancellation is None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["status", "substatus", "products", "cancellation", "analytics_data",
                                        "financial_data", "customer", "addressee", "tariffication",
                                        "in_process_at", "delivery_method", "related_postings"]),
                       st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)
                       | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)))
def test_any_shape_maps_without_raising(fields):
    fbs_order({"posting_number": "1234567-0001-1", **fields})
    fbo_order({"posting_number": "1234567-0001-1", **fields})


def test_returns_and_lists():
    when = datetime(2026, 5, 1, 10, tzinfo=UTC)
    r = ReturnInfo(id=9, type="ClientReturn", status="MoneyReturned", reason="Брак", created_at=when)
    assert returns_of({"returns": [return_json("1-2-3", r), {"no": "id"}], "has_next": False}) == [r]
    assert listed_postings({"postings": [{"posting_number": "1-2-3"}, {}]}) == ["1-2-3"]
    assert listed_postings({"result": {"postings": [{"posting_number": "1-2-4"}]}}) == ["1-2-4"]
    roles = key_roles({"roles": [{"name": "Admin", "methods": []}], "expires_at": "2027-01-01T00:00:00Z"})
    assert roles.roles == ["Admin"] and roles.expires_at.year == 2027
    assert [c.id for c in cancel_reasons({"result": [{"id": 352, "title": "x"}, {"title": "no id"}]})] == [352]


def test_delivery_scheme_facts_come_from_the_posting():
    """tpl_integration_type is kept (who carries the parcel); the passport substatus marks a
    cross-border posting; the API has no "received by the buyer" moment, so delivered_at stays None."""
    from bot.orders.model import Scheme

    ozon = fbs_order(posting_json(sample()))
    assert (ozon.scheme, ozon.tpl_integration_type) == (Scheme.FBS, "ozon")
    assert not ozon.cross_border and ozon.delivered_at is None
    own = fbs_order(posting_json(sample(scheme=Scheme.RFBS)))
    assert (own.scheme, own.tpl_integration_type) == (Scheme.RFBS, "non_integrated")
    passport = fbs_order(posting_json(sample(scheme=Scheme.RFBS, status="awaiting_packaging",
                                             substatus="posting_awaiting_passport_data")))
    assert passport.cross_border


def test_scheme_facts_decide_who_acts():
    from datetime import UTC, datetime, timedelta

    from bot.orders.facts import OrderFacts
    from bot.orders.model import Scheme

    now = datetime.now(UTC)
    fbo = OrderFacts(sample(scheme=Scheme.FBO, status="awaiting_packaging", tpl_integration_type=""), now)
    assert fbo.ozon_delivers and not fbo.shop_delivers and not fbo.buyer_can_cancel and not fbo.shop_can_cancel
    fbs = OrderFacts(sample(status="awaiting_packaging"), now)
    assert fbs.ozon_delivers and fbs.buyer_can_cancel and fbs.shop_can_cancel
    packed = OrderFacts(sample(status="awaiting_deliver"), now)
    assert not packed.buyer_can_cancel and packed.shop_can_cancel
    rfbs = OrderFacts(sample(scheme=Scheme.RFBS, status="delivering"), now)
    assert rfbs.shop_delivers and not rfbs.ozon_delivers and not rfbs.shop_can_cancel
    got = OrderFacts(sample(status="delivered", delivered_at=now - timedelta(days=8)), now)
    assert got.days_since_delivered == 8 and not got.within_return_days and got.return_deadline is not None
    fresh = OrderFacts(sample(status="delivered", delivered_at=now - timedelta(days=2)), now)
    assert fresh.within_return_days and fresh.delivered_at is not None
    assert OrderFacts(sample(status="delivering"), now).delivered_at is None
