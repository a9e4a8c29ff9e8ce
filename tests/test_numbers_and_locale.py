from datetime import UTC

import pytest

from bot.i18n.locale import choose_language, language_from_code, language_from_script
from bot.orders.numbers import find_order_number, parse_order_number


@pytest.mark.parametrize("text, order, posting", [
    ("57195475-0050-3", "57195475-0050", "57195475-0050-3"),
    ("57195475-0050", "57195475-0050", None),
    ("57195475 0050 3", "57195475-0050", "57195475-0050-3"),
    ("57195475–0050—3", "57195475-0050", "57195475-0050-3"),  # en and em dashes
    ("57195475_0050", "57195475-0050", None),
    ("５７１９５４７５－００５０－３", "57195475-0050", "57195475-0050-3"),  # full-width, from a Chinese IME
    ("٥٧١٩٥٤٧٥-٠٠٥٠", None, None),  # other scripts' digits are not Ozon numbers
    ("0132112277-0101-1", "0132112277-0101", "0132112277-0101-1"),
    ("我的订单号是57195475-0050-3,请帮忙", "57195475-0050", "57195475-0050-3"),
    ("Заказ №57195475-0050, где он?", "57195475-0050", None),
])
def test_numbers_typed_loosely_are_recognised(text, order, posting):
    ref = find_order_number(text)
    if order is None:
        assert ref is None
    else:
        assert ref is not None and (ref.order_number, ref.posting_number) == (order, posting)


@pytest.mark.parametrize("text", [
    "", "   ", "hello", "1234", "571954750050", "12345678901234567890", "WB-123456789",  # Wildberries-style
    "AliExpress 8123456789012345", "+7 999 123-45-67", "123-4567", "{order}", "%s", "'; DROP TABLE x; --",
])
def test_other_texts_are_not_order_numbers(text):
    assert find_order_number(text) is None


def test_parse_requires_the_whole_text_to_be_a_number():
    assert parse_order_number(" 57195475-0050-3 ").posting_number == "57195475-0050-3"
    assert parse_order_number("order 57195475-0050-3") is None


@pytest.mark.parametrize("code, lang", [("ru", "ru"), ("ru-RU", "ru"), ("uk", "ru"), ("zh-hans", "zh"), ("zh-CN", "zh"),
                                        ("zh_TW", "zh"), ("en", None), ("", None), (None, None)])
def test_language_from_client_code(code, lang):
    assert language_from_code(code) == lang


def test_language_from_script():
    assert language_from_script("我的订单没有更新") == "zh"
    assert language_from_script("Где мой заказ?") == "ru"
    assert language_from_script("12345 🙂") is None
    assert language_from_script("订单 order заказ заказ") == "ru"


def test_choice_order_explicit_then_code_then_script_then_default():
    assert choose_language("zh", "ru", "Привет", "ru") == "zh"
    assert choose_language(None, "zh-CN", "Привет", "ru") == "zh"
    assert choose_language(None, "en", "Привет", "zh") == "ru"
    assert choose_language(None, "en", "🙂", "zh") == "zh"


def test_money_reads_as_in_russia_in_every_language():
    from decimal import Decimal

    from bot.i18n.render import money
    from bot.orders.model import Money

    assert money(Money(amount=Decimal("2199.50")), "ru") == "2 199,50 ₽"
    assert money(Money(amount=Decimal("2199.50")), "zh") == "2 199,50 卢布"
    assert "RUB" not in money(Money(amount=Decimal("21990")), "zh")


def test_buyer_times_in_buyer_timezone_for_every_language_and_windows_as_dates():
    from datetime import datetime

    from bot.i18n.keys import Day
    from bot.i18n.render import Renderer, set_buyer_timezone, when

    moment = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert when(moment, "ru") == "21 ноября, 12:30" and when(moment, "zh") == "11月21日 12:30"
    r = Renderer.__new__(Renderer)
    assert r.value(Day.of(moment), "zh") == "11月21日" and r.value(Day.of(moment), "ru") == "21 ноября"
    try:
        set_buyer_timezone("Asia/Vladivostok")
        assert when(moment, "zh") == "11月21日 19:30"
    finally:
        set_buyer_timezone("Europe/Moscow")
