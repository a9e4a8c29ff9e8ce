"""Derived order facts and keyword matching, on their own."""

from __future__ import annotations

import pytest

from bot.engine.keywords import Keyword
from bot.orders.facts import CANCEL_CATEGORIES, OrderFacts, cancel_category
from tests.conftest import NOW


@pytest.mark.parametrize("key, category", [
    ("cancelled_by_buyer", "buyer"),
    ("cancelled_out_of_stock", "stock"),
    ("cancelled_price_error", "price"),
    ("cancelled_payment", "payment"),
    ("cancelled_by_system", "rules"),
    ("cancelled_lost_in_delivery", "delivery"),
    ("cancelled_not_picked_up", "not_picked_up"),
    ("cancelled_split", "split"),
    ("delivering_on_time", ""),
])
def test_cancel_category_of_each_demo_scenario(demo_order, key, category):
    assert category in CANCEL_CATEGORIES
    assert cancel_category(demo_order[key]) == category


def test_seller_lateness_and_payment(demo_order):
    late = OrderFacts(demo_order["awaiting_deliver_late"], NOW)
    assert late.seller_late and late.days_seller_late == 2 and late.hours_seller_late >= 48
    on_time = OrderFacts(demo_order["packaging_on_time"], NOW)
    assert not on_time.seller_late and on_time.days_seller_late == 0 and on_time.paid
    unpaid = OrderFacts(demo_order["payment_awaiting_approve"], NOW)
    assert unpaid.payment_pending and not unpaid.paid


def test_delivery_lateness_and_pickup(demo_order):
    late = OrderFacts(demo_order["delivering_late"], NOW)
    assert late.delivery_late and late.days_delivery_late == 3
    pickup = OrderFacts(demo_order["at_pickup_point"], NOW)
    assert pickup.at_pickup_point and not pickup.delivery_late


def test_unknown_status_is_kept_and_flagged(demo_order):
    facts = OrderFacts(demo_order["unknown_status"], NOW)
    assert facts.status == "ship_in_process" and not facts.status_known
    assert facts.status_label == "status.unknown"


@pytest.mark.parametrize("keyword, text, hit", [
    ("брак", "это брак", True),
    ("брак", "бракованный товар", True),
    ("брак", "абракадабра", False),
    ("брак", "абракадабра, но это брак", True),
    ("брак", "товар_брак", False),
    ("брак", "(брак)", True),
    ("отмен", "Хочу ОТМЕНИТЬ заказ", True),
    ("取消", "我想取消订单", True),
    ("退货", "怎么退货?", True),
])
def test_keywords_match_at_word_starts_except_chinese(keyword, text, hit):
    from bot.engine.keywords import fold

    assert Keyword.of(keyword, "f").found_in(fold(text)) is hit


def test_a_topic_keyword_beats_a_greeting(catalogs):
    from bot.engine.loader import load_flows
    from bot.settings import ROOT

    flowset = load_flows(ROOT / "flows", catalogs)
    assert flowset.match_keyword("Здравствуйте!") == "main_menu"
    assert flowset.match_keyword("Здравствуйте, хочу отменить") == "cancel_order"
    assert flowset.match_keyword("您好，我想退货") == "request_return"
