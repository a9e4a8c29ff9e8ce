"""The order snapshot a conversation keeps: exact both ways, shared, and tolerant of old snapshots."""

from __future__ import annotations

from datetime import UTC

from bot.orders.model import Order
from bot.orders.snapshot import dump_order, load_order


def test_round_trip_is_exact_for_every_demo_order(demo_order):
    for key, order in demo_order.items():
        text = dump_order(order)
        assert text == order.model_dump_json(), key
        assert load_order(text) == order, key
        # a snapshot read back from storage (a new string object) gives an equal order
        assert load_order("".join(list(text))) == order, key


def test_repeated_reads_share_one_order_and_writes_one_text(demo_order):
    order = demo_order["delivering_late"]
    text = dump_order(order)
    assert dump_order(order) is text
    assert load_order(text) is load_order(str(text))
    # an equal but distinct order (as a provider builds afresh) gives the same text
    fresh = Order.model_validate_json(text)
    assert fresh is not order and dump_order(fresh) == text


def test_no_snapshot_or_one_that_no_longer_validates_is_none(demo_order):
    assert load_order(None) is None and load_order("") is None
    assert load_order('{"posting_number": "1-2"}') is None  # missing required fields (an older model)
    assert load_order("{not json") is None


def test_every_moment_is_utc_whatever_zone_it_came_in(demo_order):
    from datetime import timedelta

    from bot.orders.facts import OrderFacts
    from tests.conftest import NOW

    base = demo_order["delivering_late"].model_dump(mode="json")
    base["delivery_date_end"] = "2026-11-18T12:00:00+03:00"  # Moscow time
    base["status_changed_at"] = "2026-11-18T09:00:00"  # no zone: taken as UTC
    order = Order.model_validate(base)
    assert order.delivery_date_end.tzinfo is UTC and order.delivery_date_end.hour == 9
    assert order.status_changed_at.tzinfo is UTC and order.status_changed_at.hour == 9
    facts = OrderFacts(order, NOW)  # comparing with the clock works for both
    assert facts.delivery_late and facts.days_delivery_late == (NOW - order.delivery_date_end) // timedelta(days=1)
    assert facts.hours_in_status == (NOW - order.status_changed_at) // timedelta(hours=1)
    assert load_order(dump_order(order)) == order
