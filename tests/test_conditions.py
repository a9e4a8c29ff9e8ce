"""The condition language evaluated: every operator and shape gives Python's answer, as a bool."""

from __future__ import annotations

import pytest

from bot.engine.conditions import NO_ORDER, ConditionError, Env, MissingOrder, compile_condition, compile_expression
from bot.orders.facts import OrderFacts
from tests.conftest import NOW

VARS = frozenset({"reason", "count", "tags", "flag"})


@pytest.fixture
def env(demo_order):
    # delivering_late: status delivering, late, 1 product; vars cover text, numbers, null, lists
    facts = OrderFacts(demo_order["delivering_late"], NOW)
    return Env(facts, {"reason": "damaged", "count": 3, "tags": None, "flag": True}, {"lang": "ru", "id": "b1"})


@pytest.mark.parametrize("source, expected", [
    ('order.status == "delivering"', True),
    ('order.status != "delivering"', False),
    ('order.status in ["delivering", "driver_pickup"]', True),
    ('order.status not in ["delivering", "driver_pickup"]', False),
    ('order.status in ["delivered", "cancelled"]', False),
    ("order.delivery_late", True),
    ("not order.delivery_late", False),
    ("order.days_delivery_late >= 1", True),
    ("order.days_delivery_late < 1", False),
    ("0 < order.days_delivery_late <= 1000", True),
    ("0 < order.days_delivery_late <= 0", False),
    ("order.delivery_date_end != null", True),
    ("order.delivery_date_end == null", False),
    ("order.delivery_date_end < order.delivery_date_end", False),
    ("order.delivery_date_begin <= order.delivery_date_end", True),
    ("order.delivery_late and order.in_transit", True),
    ("order.delivery_late and order.is_delivered", False),
    ("order.is_delivered or order.in_transit", True),
    ("order.is_delivered or order.is_cancelled", False),
    ("order.in_transit and order.delivery_late and not order.is_cancelled", True),
    ("order.in_transit and order.delivery_late and order.is_cancelled", False),
    ("order.is_cancelled or order.is_delivered or order.seller_late", False),
    ("order.is_cancelled or order.is_delivered or order.delivery_late", True),
    ('vars.reason == "damaged"', True),
    ('vars.reason in ["damaged", "defect"]', True),
    ("vars.count > 2", True),
    ("vars.tags == null", True),
    ("vars.flag and vars.count", True),
    ("vars.tags or vars.reason", True),
    ('buyer.lang == "ru"', True),
    ('"ru" == buyer.lang', True),
    ("-1 < vars.count", True),
    ("true", True),
])
def test_conditions_evaluate_like_python(env, source, expected):
    result = compile_condition(source, VARS).fn(env)
    assert result is expected, f"{source} -> {result!r}"


def test_expressions_as_values(env, demo_order):
    order = demo_order["delivering_late"]
    assert compile_expression("order.posting_number").fn(env) == order.posting_number
    assert compile_expression("order.status").fn(env) == "delivering"
    assert compile_expression("vars.count", VARS).fn(env) == 3
    assert compile_expression('["a", "b"]').fn(env) == ("a", "b")
    assert compile_expression("[vars.reason, vars.count]", VARS).fn(env) == ("damaged", 3)


def test_reading_the_order_before_a_lookup_raises_missing_order():
    empty = Env(NO_ORDER, {}, {"lang": "zh", "id": "b1"})
    with pytest.raises(MissingOrder, match="status"):
        compile_condition('order.status == "delivered"').fn(empty)
    # conditions that do not read the order work without one
    assert compile_condition('buyer.lang == "zh"').fn(empty) is True


def test_short_circuit_never_reads_the_missing_order():
    empty = Env(NO_ORDER, {"flag": False}, {"lang": "zh", "id": "b1"})
    assert compile_condition("vars.flag and order.delivery_late", VARS).fn(empty) is False
    with pytest.raises(MissingOrder):
        compile_condition("not vars.flag and order.delivery_late", VARS).fn(empty)


def test_unknown_status_literal_is_a_load_error_in_every_comparison_shape():
    for source in ('order.status == "deliverd"', 'order.status in ["delivered", "deliverd"]'):
        with pytest.raises(ConditionError, match=r"'deliverd' is not a known value of order\.status") as err:
            compile_condition(source)
        assert err.value.hint == "did you mean 'delivered'?"
