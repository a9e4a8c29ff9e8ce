"""The order snapshot a conversation keeps: exact both ways, shared, and tolerant of old snapshots."""

from __future__ import annotations

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
