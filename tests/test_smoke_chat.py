"""The terminal path end to end: real flows, catalogs, demo orders and SQLite store."""

from tests.conftest import ChatDriver


async def test_start_shows_menu_in_russian(chat: ChatDriver):
    await chat.send("/start")
    assert "Здравствуйте" in chat.text
    assert any("оператор" in b for b in chat.buttons)


async def test_owner_check_then_status(app, demo_order):
    order = demo_order["packaging_on_time"]
    chat = ChatDriver(app, "b2", language_code="zh-hans")
    await chat.send(order.order_number)
    assert "后 4 位" in chat.text
    await chat.send("0000" if order.phone_last4 != "0000" else "1111")
    assert "2" in chat.text  # attempts left
    await chat.send(order.phone_last4)
    assert order.posting_number in chat.text
