"""Every buyer flow end to end, in Chinese and Russian, through the real engine, the demo order
store and the SQLite conversation store (fixtures in tests/conftest.py).

Each test talks like a buyer: a command or a menu button, the order number, the last 4 digits of
the phone, then buttons. Assertions read the texts and buttons the buyer sees and the actions and
handoffs the bot asked for.
"""

from __future__ import annotations

import itertools

import pytest

from bot.engine.effects import Handoff
from bot.i18n.render import Renderer, money
from bot.orders.model import FBO_STATUSES, FBS_STATUSES, KNOWN_CANCEL_REASONS, KNOWN_SUBSTATUSES, Initiator
from tests.conftest import ChatDriver

LANGS = ["ru", "zh"]
_ids = itertools.count(1)


def T(**by_lang: str) -> dict[str, str]:
    return by_lang


def new_chat(app, lang: str) -> ChatDriver:
    return ChatDriver(app, f"e2e-{lang}-{next(_ids)}", language_code=lang)


async def open_order(app, demo_order, key: str, lang: str, command: str = "/order") -> ChatDriver:
    """Start a flow by its command, give the order number and prove ownership."""
    order = demo_order[key]
    chat = new_chat(app, lang)
    await chat.send(command)
    await chat.send(order.order_number)
    if order.phone_last4:
        await chat.send(order.phone_last4)
    return chat


async def actions(app, chat: ChatDriver) -> list[dict]:
    return [{"name": a["name"], "args": a["args"]} for a in await app.store.actions(chat.chat_id)]


def handoff_reason(chat: ChatDriver) -> str | None:
    for effect in chat.last.effects:
        if isinstance(effect, Handoff):
            return effect.reason
    return None


def ended(chat: ChatDriver) -> bool | None:
    from bot.engine.effects import End

    for effect in chat.last.effects:
        if isinstance(effect, End):
            return effect.resolved
    return None


def has(chat: ChatDriver, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in chat.text, f"{fragment!r} not in {chat.text!r}"


def has_button(chat: ChatDriver, *fragments: str) -> None:
    for fragment in fragments:
        assert any(fragment in b for b in chat.buttons), f"no button with {fragment!r}: {chat.buttons}"


# ---- main menu ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang, labels", [
    ("ru",
     ["Статус заказа", "задерживается", "Отменить заказ", "Почему заказ отменён", "Вернуть товар", "оплате",
      "оператором", "Язык"]),
    ("zh", ["订单状态", "超时", "取消订单", "为什么被取消", "退货", "付款", "人工客服", "语言"]),
])
async def test_menu_lists_every_topic(app, lang, labels):
    chat = new_chat(app, lang)
    await chat.send("/start")
    has(chat, T(ru="Здравствуйте", zh="您好")[lang])
    has_button(chat, *labels)


@pytest.mark.parametrize("lang, button, flow_text", [
    ("ru", "задерживается", "номер заказа"), ("ru", "Отменить заказ", "номер заказа"),
    ("ru", "Почему", "номер заказа"), ("ru", "Вернуть", "номер заказа"), ("ru", "оплате", "номер заказа"),
    ("zh", "超时", "订单号"), ("zh", "取消订单", "订单号"), ("zh", "为什么", "订单号"), ("zh", "退货", "订单号"),
    ("zh", "付款", "订单号"),
])
async def test_menu_buttons_ask_for_the_order_number(app, lang, button, flow_text):
    chat = new_chat(app, lang)
    await chat.send("/start")
    await chat.press(button)
    has(chat, flow_text)


@pytest.mark.parametrize("lang, text, node_msg", [
    ("ru", "Хочу отменить заказ", "lookup.ask_number"),
    ("zh", "为什么取消了我的订单", "lookup.ask_number"),
    ("ru", "Почему отменили заказ?", "lookup.ask_number"),
    ("zh", "我要退货", "lookup.ask_number"),
    ("ru", "Где заказ? Статус не обновляется", "lookup.ask_number"),
])
async def test_keywords_start_flows(app, lang, text, node_msg):
    chat = new_chat(app, lang)
    await chat.send(text)
    assert chat.last.outgoing[-1].meta.get("msg") == node_msg


@pytest.mark.parametrize("text, flow", [
    ("хочу отменить заказ", "cancel_order"), ("почему отменили заказ", "why_cancelled"),
    ("нужен возврат", "request_return"), ("не прошла оплата", "check_payment"),
    ("заказ задерживается", "overdue_order"), ("хочу отказаться от заказа", "refuse_delivery"),
    ("где заказ", "order_status"), ("为什么被取消", "why_cancelled"), ("我要取消订单", "cancel_order"),
    ("申请退货", "request_return"), ("付款失败", "check_payment"), ("订单超时了", "overdue_order"),
    ("我想拒收", "refuse_delivery"), ("催单", "order_status"), ("абракадабра", None),
    ("Где мой заказ?", "order_status"), ("Когда доставят посылку?", "order_status"),
    ("请问什么时候发货", "order_status"), ("我的订单被取消了", "why_cancelled"),
    # a request in the same message beats the generic status question
    ("Где мой заказ? Хочу вернуть товар", "request_return"), ("发货了吗？我想取消订单", "cancel_order"),
    ("退款什么时候到账", "request_return"), ("Когда доставят возврат?", "request_return"),
])
def test_keyword_routing(app, text, flow):
    assert app.registry.current.match_keyword(text) == flow


# ---- order_status -------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_status_seller_late_urge(app, demo_order, lang):
    order = demo_order["packaging_seller_late"]
    chat = new_chat(app, lang)
    await chat.send("/start")
    await chat.press(T(ru="Статус", zh="订单状态")[lang])
    await chat.send(order.order_number)
    await chat.send(order.phone_last4)
    has(chat, T(ru="мы задерживаем отправку", zh="我们发货晚了")[lang], order.posting_number,
        T(ru="24 часа", zh="24 小时")[lang])
    has_button(chat, T(ru="Ускорить", zh="催促")[lang], T(ru="Отменить", zh="取消")[lang],
               T(ru="компенсация", zh="补偿")[lang], T(ru="оператор", zh="人工")[lang])
    await chat.press(T(ru="Ускорить", zh="催促")[lang])
    has(chat, T(ru="напишем Вам здесь", zh="在这里通知您")[lang])
    assert T(ru="переписк", zh="聊天记录")[lang] not in chat.text
    assert await actions(app, chat) == [{"name": "urge_seller", "args": {"posting": order.posting_number}}]
    await chat.press(T(ru="спасибо", zh="谢谢")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_status_seller_late_to_cancel_and_overdue(app, demo_order, lang):
    chat = await open_order(app, demo_order, "awaiting_deliver_late", lang)
    has(chat, T(ru="2 дня", zh="2 天")[lang])
    await chat.press(T(ru="компенсация", zh="补偿")[lang])
    has(chat, T(ru="Простите, мы не отправили", zh="我们没能按时发出")[lang])
    has_button(chat, T(ru="Попросить компенсацию", zh="申请补偿")[lang])
    chat2 = await open_order(app, demo_order, "packaging_seller_late", lang)
    await chat2.press(T(ru="Отменить заказ", zh="取消订单")[lang])
    has(chat2, T(ru="можете отменить его сами", zh="您现在就可以自己取消")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_before_packing_on_time(app, demo_order, lang):
    order = demo_order["packaging_on_time"]
    chat = await open_order(app, demo_order, "packaging_on_time", lang)
    has(chat, order.posting_number, T(ru="ожидает сборки", zh="等待打包")[lang],
        T(ru="22 ноября, 12:00", zh="11月22日 12:00")[lang], T(ru="обновить страницу", zh="刷新")[lang])
    has_button(chat, T(ru="Отменить", zh="取消")[lang])
    await chat.press(T(ru="спасибо", zh="谢谢")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key, fragment", [
    ("registration_on_time", {"ru": "регистрируется в службе доставки", "zh": "等待物流登记"}),
    ("acceptance", {"ru": "принимается в службе доставки", "zh": "物流正在接收"}),
    ("awaiting_deliver_on_time", {"ru": "включён в отгрузку", "zh": "已加入发运批次"}),
    ("fbo_awaiting_deliver", {"ru": "передаётся в доставку", "zh": "正在交给物流"}),
])
async def test_status_being_prepared(app, demo_order, lang, key, fragment):
    chat = await open_order(app, demo_order, key, lang)
    has(chat, demo_order[key].posting_number, fragment[lang], T(ru="обычный этап", zh="正常环节")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert "handoff" in chat.kinds


@pytest.mark.parametrize("lang", LANGS)
async def test_status_registration_error(app, demo_order, lang):
    chat = await open_order(app, demo_order, "registration_error", lang)
    has(chat, T(ru="ошибка", zh="出了问题")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "registration_error"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_in_transit_with_window(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivering_on_time", lang)
    has(chat, T(ru="в пути", zh="正在路上")[lang], T(ru="едет в Ваш город", zh="运往您所在的城市")[lang],
        T(ru="с 22 ноября по 24 ноября", zh="11月22日 — 11月24日")[lang], "0112233445566")
    await chat.press(T(ru="больше не нужен", zh="不想要")[lang])
    has(chat, T(ru="отменить его нельзя", zh="无法再取消")[lang])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key, fragment", [
    ("driver_pickup", {"ru": "у водителя", "zh": "司机已取件"}),
    ("rfbs_sent_by_seller", {"ru": "RR987654321RU", "zh": "RR987654321RU"}),
    ("with_courier", {"ru": "курьер везёт", "zh": "快递员正在派送"}),
])
async def test_status_in_transit_other(app, demo_order, lang, key, fragment):
    chat = await open_order(app, demo_order, key, lang)
    has(chat, fragment[lang], T(ru="в пути", zh="正在路上")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_delivery_late(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivering_late", lang)
    has(chat, T(ru="опоздание — 3 дня", zh="晚了 3 天")[lang])
    has_button(chat, T(ru="Подожду", zh="再等等")[lang], T(ru="Отказаться", zh="拒收")[lang],
               T(ru="оператор", zh="人工")[lang])
    await chat.press(T(ru="Подожду", zh="再等等")[lang])
    has(chat, T(ru="новая дата", zh="新的预计送达日期")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_status_delivery_late_refuse(app, demo_order, lang):
    order = demo_order["delivering_late"]
    chat = await open_order(app, demo_order, "delivering_late", lang)
    await chat.press(T(ru="Отказаться", zh="拒收")[lang])
    has(chat, T(ru="пункте выдачи", zh="自提点")[lang], T(ru="курьера", zh="快递")[lang])
    await chat.press(T(ru="Предупредить", zh="告诉店铺")[lang])
    has(chat, T(ru="Спасибо, что предупредили", zh="谢谢您告诉我们")[lang])
    assert T(ru="Сохраните", zh="保存")[lang] not in chat.text
    assert await actions(app, chat) == [{"name": "refuse_delivery", "args": {"posting": order.posting_number}}]


@pytest.mark.parametrize("lang", LANGS)
async def test_status_at_pickup_point(app, demo_order, lang):
    chat = await open_order(app, demo_order, "at_pickup_point", lang)
    has(chat, T(ru="ждёт Вас в пункте выдачи", zh="已到自提点")[lang], T(ru="хранится", zh="保留")[lang])
    await chat.press(T(ru="спасибо", zh="谢谢")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_status_conditionally_delivered_not_received(app, demo_order, lang):
    chat = await open_order(app, demo_order, "rfbs_conditionally_delivered", lang)
    has(chat, T(ru="Вы его получили", zh="收到包裹了吗")[lang])
    await chat.press(T(ru="Нет", zh="没有收到")[lang])
    assert handoff_reason(chat) == "delivered_not_received"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_delivered_not_received(app, demo_order, lang):
    """Ozon delivered it: the buyer opens a claim with Ozon support; our agent only on request."""
    chat = await open_order(app, demo_order, "delivered_not_received", lang)
    has(chat, T(ru="доставленный", zh="已送达")[lang])
    await chat.press(T(ru="Нет", zh="没有收到")[lang])
    assert handoff_reason(chat) is None
    has(chat, T(ru="чат поддержки Ozon", zh="Ozon 客服聊天")[lang])
    assert T(ru="переписк", zh="聊天记录")[lang] not in chat.text
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "delivered_not_received"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_delivered_received(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivered_received", lang)
    await chat.press(T(ru="заказ у меня", zh="已收到")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key, fragment", [
    ("arbitration", {"ru": "не отсканировали", "zh": "没有扫描记录"}),
    ("client_arbitration", {"ru": "Вашему обращению", "zh": "您发起的配送争议"}),
    ("not_accepted", {"ru": "не принял", "zh": "没有被分拣中心接收"}),
])
async def test_status_disputes_offer_an_agent(app, demo_order, lang, key, fragment):
    chat = await open_order(app, demo_order, key, lang)
    has(chat, fragment[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "delivery_dispute"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_unknown_is_safe(app, demo_order, lang):
    chat = await open_order(app, demo_order, "unknown_status", lang)
    has(chat, "ship_in_process", T(ru="статус уточняется", zh="状态待确认")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "unknown_status"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_payment_pending_goes_to_check_payment(app, demo_order, lang):
    chat = await open_order(app, demo_order, "payment_awaiting_approve", lang)
    has(chat, T(ru="ждёт подтверждения банка уже 6 часов", zh="已经 6 小时")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_cancelled_goes_to_why_cancelled(app, demo_order, lang):
    chat = await open_order(app, demo_order, "cancelled_out_of_stock", lang)
    has(chat, T(ru="закончился на нашем складе", zh="已售完")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_not_found_offers_payment_retry_agent(app, lang):
    chat = new_chat(app, lang)
    await chat.send("/order 99999999-9999")
    has(chat, T(ru="не найден", zh="没有找到")[lang])
    has_button(chat, T(ru="оплату", zh="付款")[lang], T(ru="заново", zh="重新输入")[lang],
               T(ru="оператор", zh="人工")[lang])
    await chat.press(T(ru="заново", zh="重新输入")[lang])
    has(chat, T(ru="пришлите номер заказа", zh="请发送您的订单号")[lang])
    await chat.send("99999999-9998")
    await chat.press(T(ru="оплату", zh="付款")[lang])
    has(chat, T(ru="мог просто не создаться", zh="可能根本没有创建")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_fbo_without_phone_asks_what_only_the_buyer_knows(app, demo_order, lang):
    chat = new_chat(app, lang)
    await chat.send(demo_order["fbo_no_phone"].posting_number)
    assert "handoff" not in chat.kinds
    has(chat, T(ru="Какой товар", zh="哪件商品")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_status_multi_posting_order(app, demo_order, lang):
    first, second = demo_order["multi_posting_1"], demo_order["multi_posting_2"]
    chat = new_chat(app, lang)
    await chat.send(first.order_number)
    assert first.posting_number not in chat.text and chat.buttons == []  # nothing before proof
    await chat.send(second.phone_last4)
    has(chat, T(ru="2 посылки", zh="2 个包裹")[lang])
    has_button(chat, first.posting_number, second.posting_number, T(ru="доставляется", zh="配送中")[lang])
    await chat.press(second.posting_number)
    has(chat, second.posting_number, T(ru="ожидает сборки", zh="等待打包")[lang])
    chat2 = new_chat(app, lang)
    await chat2.send(first.order_number)
    await chat2.send(first.phone_last4)
    await chat2.press(first.posting_number)
    has(chat2, first.posting_number, T(ru="курьер везёт", zh="快递员正在派送")[lang])


# ---- check_payment ------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_payment_pending_failed(app, demo_order, lang):
    chat = await open_order(app, demo_order, "payment_verification", lang, "/payment")
    has(chat, T(ru="уже 2 часа", zh="已经 2 小时")[lang])
    await chat.press(T(ru="не прошла", zh="没有成功")[lang])
    has(chat, T(ru="другую карту", zh="换一张卡")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_pending_wait(app, demo_order, lang):
    chat = await open_order(app, demo_order, "payment_awaiting_approve", lang, "/payment")
    await chat.press(T(ru="Подожду", zh="再等等")[lang])
    has(chat, T(ru="платить ещё раз не нужно", zh="无需再次付款")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_charged_goes_to_agent(app, demo_order, lang):
    order = demo_order["payment_awaiting_approve"]
    chat = await open_order(app, demo_order, "payment_awaiting_approve", lang, "/payment")
    await chat.press(T(ru="Деньги списаны", zh="钱已扣")[lang])
    assert handoff_reason(chat) == "payment_charged_not_confirmed"
    assert await actions(app, chat) == [{"name": "payment_check", "args": {"posting": order.posting_number}}]


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_paid(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivering_on_time", lang, "/payment")
    has(chat, T(ru="оплачен", zh="已付款")[lang], money(demo_order["delivering_on_time"].total, lang))
    await chat.press(T(ru="Подробнее", zh="查看订单进度")[lang])
    has(chat, T(ru="в пути", zh="正在路上")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_cancelled_for_payment(app, demo_order, lang):
    chat = await open_order(app, demo_order, "cancelled_payment", lang, "/payment")
    has(chat, T(ru="оплата не прошла", zh="付款未完成")[lang])
    await chat.press(T(ru="Как оформить", zh="如何重新下单")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_cancelled_for_other_reason(app, demo_order, lang):
    chat = await open_order(app, demo_order, "cancelled_by_buyer", lang, "/payment")
    has(chat, T(ru="не из-за оплаты", zh="与付款无关")[lang])
    await chat.press(T(ru="Почему", zh="为什么")[lang])
    has(chat, T(ru="с Вашего аккаунта", zh="从您的账户取消")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_payment_not_found_then_agent(app, lang):
    chat = new_chat(app, lang)
    await chat.send("/payment 99999999-9999")
    has(chat, T(ru="приложение банка", zh="银行应用")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "payment_question"


# ---- why_cancelled ------------------------------------------------------------------------------

WHY = {
    "cancelled_by_buyer": ({"ru": "с Вашего аккаунта", "zh": "从您的账户取消"},
                           {"ru": "нашли дешевле", "zh": "找到了更便宜的"}),
    "cancelled_out_of_stock": ({"ru": "отменили мы", "zh": "是我们取消的"},
                               {"ru": "закончился на нашем складе", "zh": "已售完"}),
    "cancelled_price_error": ({"ru": "ошибка", "zh": "价格标错"}, {"ru": "в цене", "zh": "价格"}),
    "cancelled_payment": ({"ru": "оплата не прошла", "zh": "付款没有成功"},
                          {"ru": "кто отменил: Ozon", "zh": "Ozon 平台"}),
    "cancelled_by_system": ({"ru": "автоматическую проверку", "zh": "自动检查"},
                            {"ru": "автоматическая система Ozon", "zh": "Ozon 系统自动"}),
    "cancelled_lost_in_delivery": ({"ru": "из-за службы доставки", "zh": "因物流原因"},
                                   {"ru": "потеряла посылку", "zh": "丢失了包裹"}),
    "cancelled_not_picked_up": ({"ru": "не забрали из пункта выдачи", "zh": "没有从自提点取走"},
                                {"ru": "заказать снова", "zh": "重新下单"}),
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", list(WHY))
async def test_why_cancelled_by_initiator(app, demo_order, lang, key):
    who, why = WHY[key]
    chat = await open_order(app, demo_order, key, lang, "/why")
    has(chat, demo_order[key].posting_number, who[lang], why[lang])
    has_button(chat, T(ru="деньги", zh="退回")[lang], T(ru="заново", zh="重新下单")[lang])
    platform = demo_order[key].cancellation.initiator in (Initiator.OZON, Initiator.SYSTEM)
    assert any(T(ru="другим способом", zh="付款方式")[lang] in b for b in chat.buttons) == platform


@pytest.mark.parametrize("lang", LANGS)
async def test_why_cancelled_refund_then_reorder_and_payment(app, demo_order, lang):
    chat = await open_order(app, demo_order, "cancelled_payment", lang, "/why")
    await chat.press(T(ru="деньги", zh="退回")[lang])
    has(chat, money(demo_order["cancelled_payment"].total, lang), T(ru="зависит от банка", zh="取决于您的银行")[lang])
    await chat.press(T(ru="спасибо", zh="谢谢")[lang])
    assert ended(chat) is True
    chat = await open_order(app, demo_order, "cancelled_payment", lang, "/why")
    await chat.press(T(ru="другим способом", zh="付款方式")[lang])
    has(chat, T(ru="карту Ozon", zh="Ozon 卡")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "cancellation_question"
    chat = await open_order(app, demo_order, "cancelled_out_of_stock", lang, "/why")
    await chat.press(T(ru="заново", zh="重新下单")[lang])
    has(chat, T(ru="в корзину", zh="加入购物车")[lang])


@pytest.mark.parametrize("lang", LANGS)
async def test_why_cancelled_split_and_not_cancelled(app, demo_order, lang):
    chat = await open_order(app, demo_order, "cancelled_split", lang, "/why")
    has(chat, T(ru="разделили", zh="拆分")[lang])
    chat = await open_order(app, demo_order, "delivering_on_time", lang, "/why")
    has(chat, T(ru="не отменён", zh="没有被取消")[lang], T(ru="доставляется", zh="配送中")[lang])
    await chat.press(T(ru="Статус", zh="订单状态")[lang])
    has(chat, T(ru="в пути", zh="正在路上")[lang])


# ---- cancel_order -------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_before_packing_we_request_it(app, demo_order, lang):
    order = demo_order["packaging_on_time"]
    chat = await open_order(app, demo_order, "packaging_on_time", lang, "/cancel")
    has(chat, T(ru="«Отменить заказ»", zh="«Отменить заказ»（取消订单）")[lang])
    await chat.press(T(ru="за меня", zh="帮我")[lang])
    has_button(chat, T(ru="Передумали", zh="不想要了")[lang], T(ru="дешевле", zh="更便宜")[lang])
    await chat.press(T(ru="Передумали", zh="不想要了")[lang])
    has(chat, T(ru="Приняли Вашу просьбу", zh="已收到您取消订单")[lang])
    assert ended(chat) is True
    assert await actions(app, chat) == [
        {"name": "request_cancellation", "args": {"posting": order.posting_number, "reason": "changed_mind"}}]


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_before_packing_myself_or_keep(app, demo_order, lang):
    chat = await open_order(app, demo_order, "packaging_on_time", lang, "/cancel")
    await chat.press(T(ru="в приложении", zh="自己")[lang])
    has(chat, T(ru="вернутся", zh="退回")[lang])
    assert await actions(app, chat) == []
    chat = await open_order(app, demo_order, "packaging_on_time", lang, "/cancel")
    await chat.press(T(ru="Оставить", zh="不取消")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_being_prepared_asks_the_seller(app, demo_order, lang):
    order = demo_order["awaiting_deliver_on_time"]
    chat = await open_order(app, demo_order, "awaiting_deliver_on_time", lang, "/cancel")
    has(chat, T(ru="обещать не будем", zh="不能保证")[lang])
    await chat.press(T(ru="Попробуйте отменить", zh="请尝试取消")[lang])
    await chat.press(T(ru="Ошиблись", zh="下错单")[lang])
    has(chat, T(ru="напишут Вам здесь", zh="告诉您结果")[lang])
    assert await actions(app, chat) == [
        {"name": "request_cancellation", "args": {"posting": order.posting_number, "reason": "ordered_by_mistake"}}]


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_shipped_refuse_or_return(app, demo_order, lang):
    chat = await open_order(app, demo_order, "with_courier", lang, "/cancel")
    has(chat, T(ru="отменить его нельзя", zh="无法再取消")[lang])
    await chat.press(T(ru="Вернуть после", zh="收货后退货")[lang])
    has(chat, T(ru="ещё не доставлен", zh="还没有送达")[lang])
    await chat.press(T(ru="Хорошо, подожду", zh="我再等等")[lang])
    assert ended(chat) is True
    chat = await open_order(app, demo_order, "driver_pickup", lang, "/cancel")
    await chat.press(T(ru="Как отказаться", zh="怎么拒收")[lang])
    has(chat, T(ru="Как отказаться от заказа", zh="拒收订单")[lang])
    await chat.press(T(ru="Всё-таки", zh="还是收下")[lang])
    assert ended(chat) is True


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_other_statuses(app, demo_order, lang):
    chat = await open_order(app, demo_order, "rfbs_conditionally_delivered", lang, "/cancel")
    has(chat, T(ru="отмена невозможна", zh="无法取消")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "cancel_conditionally_delivered"
    chat = await open_order(app, demo_order, "delivered_received", lang, "/cancel")
    has(chat, T(ru="уже доставлен", zh="已经送达")[lang], T(ru="Что случилось с товаром", zh="出了什么问题")[lang])
    chat = await open_order(app, demo_order, "cancelled_by_buyer", lang, "/cancel")
    has(chat, T(ru="уже отменён", zh="已经取消")[lang], T(ru="с Вашего аккаунта", zh="从您的账户取消")[lang])
    chat = await open_order(app, demo_order, "client_arbitration", lang, "/cancel")
    assert handoff_reason(chat) == "cancel_during_dispute"
    chat = await open_order(app, demo_order, "unknown_status", lang, "/cancel")
    assert handoff_reason(chat) == "cancel_unknown_status"
    has(chat, "ship_in_process")


# ---- refuse_delivery ----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_refuse_delivery_routes(app, demo_order, lang):
    chat = await open_order(app, demo_order, "packaging_on_time", lang, "/refuse")
    has(chat, T(ru="проще отменить", zh="直接取消更方便")[lang],
        T(ru="можете отменить его сами", zh="您现在就可以自己取消")[lang])
    chat = await open_order(app, demo_order, "delivered_received", lang, "/refuse")
    has(chat, T(ru="уже получен", zh="已经送达")[lang], T(ru="Что случилось", zh="出了什么问题")[lang])
    chat = await open_order(app, demo_order, "cancelled_lost_in_delivery", lang, "/refuse")
    has(chat, T(ru="потеряла посылку", zh="丢失了包裹")[lang])
    chat = await open_order(app, demo_order, "at_pickup_point", lang, "/refuse")
    await chat.press(T(ru="Предупредить", zh="告诉店铺")[lang])
    has(chat, money(demo_order["at_pickup_point"].total, lang))
    assert [a["name"] for a in await actions(app, chat)] == ["refuse_delivery"]


# ---- request_return -----------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_return_damaged_with_photo(app, demo_order, lang):
    order = demo_order["delivered_received"]
    chat = await open_order(app, demo_order, "delivered_received", lang, "/return")
    has_button(chat, T(ru="Повреждён", zh="损坏")[lang], T(ru="Брак", zh="质量问题")[lang],
               T(ru="не тот товар", zh="发错")[lang], T(ru="Передумали", zh="不想要")[lang])
    await chat.press(T(ru="Повреждён", zh="损坏")[lang])
    has(chat, T(ru="фото или видео", zh="照片或视频")[lang])
    has_button(chat, T(ru="Пропустить", zh="跳过")[lang])
    await chat.send(":photo IMG1")
    has(chat, T(ru="Получили", zh="收到了")[lang])
    await chat.press(T(ru="Добавить", zh="再发")[lang])
    await chat.send(":photo IMG2")
    await chat.press(T(ru="что дальше", zh="接下来")[lang])
    has(chat, T(ru="«Возвраты»", zh="«Возвраты»（退货）")[lang],
        T(ru="«Вернуть товар»", zh="«Вернуть товар»（退货）")[lang])
    assert ended(chat) is True
    (action,) = await actions(app, chat)
    assert action["name"] == "open_return"
    assert action["args"]["posting"] == order.posting_number and action["args"]["reason"] == "damaged"
    assert [e["file_id"] for e in action["args"]["evidence"]] == ["IMG1", "IMG2"]


@pytest.mark.parametrize("lang", LANGS)
async def test_return_defective_skip_and_text_instead_of_photo(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivered_received", lang, "/return")
    await chat.press(T(ru="Брак", zh="质量问题")[lang])
    await chat.send(T(ru="он не включается", zh="开不了机")[lang])
    has(chat, T(ru="напишите «Пропустить»", zh="请回复“跳过”")[lang])
    await chat.send(T(ru="Пропустить", zh="跳过")[lang])
    (action,) = await actions(app, chat)
    assert action["args"]["reason"] == "defective" and action["args"]["evidence"] is None


@pytest.mark.parametrize("lang", LANGS)
async def test_return_wrong_item_and_changed_mind(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivered_received", lang, "/return")
    await chat.press(T(ru="не тот товар", zh="发错")[lang])
    await chat.send(":photo WRONG")
    await chat.press(T(ru="что дальше", zh="接下来")[lang])
    chat2 = await open_order(app, demo_order, "delivered_received", lang, "/return")
    await chat2.press(T(ru="описанию", zh="与描述不符")[lang])
    await chat2.press(T(ru="Пропустить", zh="跳过")[lang])
    chat3 = await open_order(app, demo_order, "delivered_received", lang, "/return")
    await chat3.press(T(ru="Передумали", zh="不想要")[lang])
    has(chat3, T(ru="гигиены", zh="卫生用品")[lang], T(ru="можете только Вы", zh="只能由您本人操作")[lang])
    reasons = [a["args"]["reason"] for c in (chat, chat2, chat3) for a in await actions(app, c)]
    assert reasons == ["wrong_item", "not_as_described", "changed_mind"]


@pytest.mark.parametrize("lang", LANGS)
async def test_return_existing_and_not_delivered(app, demo_order, lang):
    chat = await open_order(app, demo_order, "return_in_progress", lang, "/return")
    has(chat, T(ru="товар едет к нам", zh="正在退回我们这里")[lang])
    await chat.press(T(ru="спасибо", zh="谢谢")[lang])
    assert ended(chat) is True
    chat = await open_order(app, demo_order, "return_refunded", lang, "/return")
    has(chat, T(ru="завершён", zh="已完成")[lang])
    await chat.press(T(ru="оператор", zh="人工")[lang])
    assert handoff_reason(chat) == "return_question"
    chat = await open_order(app, demo_order, "delivering_on_time", lang, "/return")
    has(chat, T(ru="ещё не доставлен", zh="还没有送达")[lang])
    await chat.press(T(ru="больше не нужен", zh="不想要")[lang])
    has(chat, T(ru="отменить его нельзя", zh="无法再取消")[lang])
    chat = await open_order(app, demo_order, "rfbs_conditionally_delivered", lang, "/return")
    assert handoff_reason(chat) == "return_conditionally_delivered"
    chat = await open_order(app, demo_order, "cancelled_price_error", lang, "/return")
    has(chat, T(ru="в цене", zh="价格标错")[lang])


# ---- overdue_order ------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_overdue_seller_late_options(app, demo_order, lang):
    order = demo_order["packaging_seller_late"]
    chat = await open_order(app, demo_order, "packaging_seller_late", lang, "/late")
    has(chat, T(ru="Простите, мы не отправили", zh="我们没能按时发出")[lang])
    has_button(chat, T(ru="Подождать", zh="再等等")[lang], T(ru="Отменить заказ", zh="取消订单")[lang],
               T(ru="компенсацию", zh="补偿")[lang])
    assert not any(T(ru="Обменять", zh="换")[lang] in b for b in chat.buttons), "Ozon has no exchange"
    assert not any(T(ru="при получении", zh="拒收")[lang] in b for b in chat.buttons)
    await chat.press(T(ru="Подождать", zh="再等等")[lang])
    has(chat, T(ru="Новая дата", zh="新的日期")[lang])
    chat2 = await open_order(app, demo_order, "awaiting_deliver_late", lang, "/late")
    await chat2.press(T(ru="Отменить заказ", zh="取消订单")[lang])
    chat3 = await open_order(app, demo_order, "packaging_seller_late", lang, "/late")
    await chat3.press(T(ru="компенсацию", zh="补偿")[lang])
    has(chat3, T(ru="о решении", zh="告诉您结果")[lang])
    got = [a for c in (chat, chat2, chat3) for a in await actions(app, c)]
    assert got == [
        {"name": "urge_seller", "args": {"posting": order.posting_number}},
        {"name": "request_cancellation",
         "args": {"posting": demo_order["awaiting_deliver_late"].posting_number, "reason": "overdue"}},
        {"name": "offer_compensation", "args": {"posting": order.posting_number}},
    ]
    chat4 = await open_order(app, demo_order, "packaging_seller_late", lang, "/late")
    await chat4.press(T(ru="Отменить заказ", zh="取消订单")[lang])
    has(chat4, T(ru="можете отменить его сами", zh="您现在就可以自己取消")[lang])  # before packing: the buyer can


@pytest.mark.parametrize("lang", LANGS)
async def test_overdue_delivery_late(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivering_late", lang, "/late")
    has(chat, T(ru="опоздание — 3 дня", zh="晚了 3 天")[lang])
    has_button(chat, T(ru="при получении", zh="拒收")[lang])
    assert not any(T(ru="Отменить заказ", zh="取消订单")[lang] in b for b in chat.buttons)
    await chat.press(T(ru="Подождать", zh="再等等")[lang])
    assert ended(chat) is True and await actions(app, chat) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_overdue_not_late_or_other(app, demo_order, lang):
    chat = await open_order(app, demo_order, "delivering_on_time", lang, "/late")
    has(chat, T(ru="укладывается в сроки", zh="没有超时")[lang], T(ru="в пути", zh="正在路上")[lang])
    chat = await open_order(app, demo_order, "cancelled_by_system", lang, "/late")
    has(chat, T(ru="автоматическую проверку", zh="自动检查")[lang])
    chat = await open_order(app, demo_order, "delivered_not_received", lang, "/late")
    has(chat, T(ru="доставленный", zh="已送达")[lang])
    chat = await open_order(app, demo_order, "unknown_status", lang, "/late")
    has(chat, "ship_in_process")


# ---- not found and retry in every flow -----------------------------------------------------------

@pytest.mark.parametrize("command", ["/cancel", "/why", "/return", "/late", "/refuse"])
async def test_not_found_retry_in_each_flow(app, demo_order, command):
    chat = new_chat(app, "ru")
    await chat.send(f"{command} 99999999-9999")
    has(chat, "не найден")
    await chat.press("заново")
    has(chat, "пришлите номер заказа")
    order = demo_order["packaging_on_time"]
    await chat.send(order.order_number)
    await chat.send(order.phone_last4)
    assert order.posting_number in chat.text


# ---- catalogs ---------------------------------------------------------------------------------

def test_every_label_key_exists_in_both_catalogs(catalogs):
    keys = [f"status.{s}" for s in set(FBS_STATUSES) | set(FBO_STATUSES)] + ["status.unknown"]
    keys += [f"substatus.{s}" for s in KNOWN_SUBSTATUSES] + ["substatus.unknown"]
    keys += [f"initiator.{i.value}" for i in Initiator]
    keys += [f"cancel_reason.{r}" for r in KNOWN_CANCEL_REASONS] + ["cancel_reason.other"]
    for lang in ("zh", "ru"):
        missing = [k for k in keys if catalogs.info(k, lang) is None]
        assert not missing, f"{lang}: {missing}"
        for k in keys:
            assert not catalogs.info(k, lang).placeholders, k


@pytest.mark.parametrize("n, word", [(1, "1 день"), (2, "2 дня"), (4, "4 дня"), (5, "5 дней"), (11, "11 дней"),
                                     (21, "21 день"), (22, "22 дня"), (25, "25 дней"), (101, "101 день")])
def test_russian_plural_days(catalogs, n, word):
    text = Renderer(catalogs).text("order_status.delivery_late", "ru",
                                   {"posting": "1-1-1", "days": n, "end": "", "substatus": ""}, count=n)
    assert f"опоздание — {word}." in text


@pytest.mark.parametrize("n, word", [(1, "1 час."), (3, "3 часа."), (5, "5 часов."), (24, "24 часа."), (48, "2 дня.")])
def test_russian_plural_hours(catalogs, n, word):
    from bot.i18n.keys import Duration

    text = Renderer(catalogs).text("overdue_order.seller_late", "ru", {"posting": "1", "date": "", "late": Duration(n)})
    assert f"опаздываем на {word}" in text


def test_chinese_has_one_form(catalogs):
    text = Renderer(catalogs).text("order_status.delivery_late", "zh",
                                   {"posting": "1", "days": 5, "end": "", "substatus": ""}, count=5)
    assert "5 天" in text


# ---- scenarios added so that every node of every flow is reachable from a demo order ----------
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key, command, flow, node", [
    ("packaging_no_deadline", "/order", "order_status", "before_packing_nodate"),
    ("payment_just_placed", "/payment", "check_payment", "pending_fresh"),
    ("cancelled_seller_other", "/why", "why_cancelled", "seller_other"),
    ("cancelled_unknown_initiator", "/why", "why_cancelled", "unknown_initiator"),
])
async def test_rare_branches_are_reached(app, demo_order, lang, key, command, flow, node):
    chat = await open_order(app, demo_order, key, lang, command)
    assert demo_order[key].posting_number in chat.text
    entered = [(e.data.get("flow"), e.data.get("node")) for e in await app.store.analytics() if e.name == "node_entered"
               and e.chat_id == chat.chat_id]
    assert (flow, node) in entered


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key, node", [
    ("return_rejected", "return_rejected"), ("return_received_by_seller", "return_received"),
    ("return_under_review", "return_review"), ("return_cancelled", "return_cancelled"),
    ("return_other_state", "return_other"), ("return_in_progress", "return_moving"),
    ("return_refunded", "return_refunded"),
])
async def test_each_return_state_group_is_explained(app, demo_order, lang, key, node):
    chat = await open_order(app, demo_order, key, lang, "/return")
    entered = [e.data.get("node") for e in await app.store.analytics() if e.name == "node_entered"
               and e.chat_id == chat.chat_id]
    assert node in entered and demo_order[key].posting_number in chat.text


@pytest.mark.parametrize("hours, ru, zh", [(5, "5 часов", "5 小时"), (23, "23 часа", "23 小时"),
                                            (47, "47 часов", "47 小时"), (48, "2 дня", "2 天"),
                                            (120, "5 дней", "5 天"), (504, "21 день", "21 天")])
def test_durations_read_in_the_unit_a_person_would_use(catalogs, hours, ru, zh):
    from bot.i18n.keys import Duration

    renderer = Renderer(catalogs)
    assert renderer.value(Duration(hours), "ru") == ru
    assert renderer.value(Duration(hours), "zh") == zh


@pytest.mark.parametrize("lang, text", [("ru", "опаздываем уже на 2 дня"), ("zh", "目前已超时 2 天")])
async def test_seller_two_days_late_is_said_in_days(app, demo_order, lang, text):
    chat = await open_order(app, demo_order, "awaiting_deliver_late", lang)
    assert text in chat.text
