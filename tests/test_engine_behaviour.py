"""Engine behaviour through the real app: flows, catalogs, demo orders, SQLite store."""

from __future__ import annotations

import shutil

import pytest

from bot.app import build_app
from bot.engine.events import Buyer, Press
from bot.engine.flowset import FlowRegistry
from bot.engine.loader import load_flows
from bot.orders.demo import DemoOrderProvider
from bot.orders.errors import OrderBackendUnavailable
from bot.settings import ROOT
from bot.store.sqlite import SqliteStore
from tests.conftest import ChatDriver


async def verify(chat: ChatDriver, order) -> None:
    await chat.send(order.order_number)
    await chat.send(order.phone_last4)


async def test_number_typed_anywhere_starts_the_lookup(app, demo_order):
    chat = ChatDriver(app, "n1", "ru")
    await chat.send("/start")
    await chat.send(f"Здравствуйте, мой заказ {demo_order['delivering_on_time'].order_number} не обновляется")
    assert "последние 4 цифры" in chat.text


async def test_bad_order_number_is_asked_again(app):
    chat = ChatDriver(app, "n2", "ru")
    await chat.send("/order")
    assert "номер заказа" in chat.text
    await chat.send("WB-12345")
    assert "не похоже на номер заказа" in chat.text
    state = await app.store.load_state("n2")
    assert state.at.flow == "order_status" and state.at.phase == "number"


async def test_three_wrong_phone_digits_lock_the_order_and_offer_an_agent(app, demo_order):
    order = demo_order["packaging_on_time"]
    wrong = "0000" if order.phone_last4 != "0000" else "1111"
    chat = ChatDriver(app, "lock", "ru")
    await chat.send(order.order_number)
    await chat.send(wrong)
    assert "Осталось 2 попытки" in chat.text
    await chat.send(wrong)
    assert "Осталась 1 попытка" in chat.text
    await chat.send(wrong)
    assert any("оператор" in b.lower() for b in chat.buttons)
    # locked: even the right digits no longer open it in this conversation
    await chat.send(order.order_number)
    assert order.posting_number not in chat.text and "последние 4 цифры" not in chat.text


async def test_phone_digits_must_be_four(app, demo_order):
    chat = ChatDriver(app, "fmt", "zh-CN")
    await chat.send(demo_order["packaging_on_time"].order_number)
    await chat.send("12")
    assert "4 位数字" in chat.text
    state = await app.store.load_state("fmt")
    assert state.owner_failures == {}  # a typo in format does not count as a wrong answer


async def test_lookups_per_buyer_are_rate_limited(app, demo_order):
    chat = ChatDriver(app, "rl", "ru")
    limit = app.settings.lookups_per_hour
    for _ in range(limit):
        await chat.send("/order 99999999-9999")
        assert "не найден" in chat.text.lower() or "не найден" in chat.text
    await chat.send("/order 99999999-9999")
    assert "Слишком много запросов" in chat.text


async def test_multi_posting_order_asks_proof_before_showing_its_postings(app, demo_order):
    first, second = demo_order["multi_posting_1"], demo_order["multi_posting_2"]
    chat = ChatDriver(app, "multi", "ru")
    await chat.send(first.order_number)
    assert "последние 4 цифры" in chat.text and chat.buttons == []
    assert first.posting_number not in chat.text and second.posting_number not in chat.text
    await chat.send(first.phone_last4)
    assert len(chat.buttons) == 2 and first.posting_number in chat.buttons[0]
    await chat.press(first.posting_number)
    assert (await app.store.load_state("multi")).order_model().posting_number == first.posting_number


async def test_fbo_order_without_phone_asks_the_product_and_the_date(app, demo_order):
    chat = ChatDriver(app, "fbo", "ru")
    await chat.send(demo_order["fbo_no_phone"].posting_number)
    assert "Какой товар" in chat.text and len(chat.buttons) == 8
    assert "handoff" not in chat.kinds


async def test_stale_button_reshows_the_current_step(app, demo_order):
    chat = ChatDriver(app, "stale", "ru")
    await chat.send("/start")
    old_node = chat._node()
    await chat.send("/order")  # moves on: now waiting for a number
    reply = await app.handle("stale", Press("1", old_node + "_old"), chat.buyer)
    texts = [m.text for m in reply.outgoing]
    assert "неактуальна" in texts[0] and "номер заказа" in texts[-1]
    assert (await app.store.load_state("stale")).at.flow == "order_status"


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "🙂🙂🙂", "x" * 10_000, "{order}", "%s %d",
                                  "{0.__class__}", "'; DROP TABLE conversations; --", "id: x\nnodes: {}",
                                  "Ｚａｋａｚ 订单 заказ", "AliExpress 8123456789012345"])
async def test_odd_input_gets_a_polite_answer_and_changes_nothing_it_should_not(app, text):
    chat = ChatDriver(app, "odd", "ru")
    await chat.send("/start")
    before = await app.store.load_state("odd")
    await chat.send(text)
    assert chat.text.strip(), "the buyer always gets an answer"
    assert "Traceback" not in chat.text and "{order}" not in chat.text.replace(text, "")
    after = await app.store.load_state("odd")
    assert after.at.flow == before.at.flow == "main_menu"
    assert after.verified == [] and after.order is None
    assert (await app.store.transcript("odd"))[-len(chat.texts) - 1].text == text  # stored verbatim


async def test_not_understood_twice_offers_menu_and_agent(app):
    chat = ChatDriver(app, "nu", "ru")
    await chat.send("/start")
    await chat.send("абракадабра")
    assert "не понял" in chat.text and chat.buttons
    await chat.send("снова абракадабра")
    assert any("оператор" in b.lower() for b in chat.buttons)


async def test_restart_mid_conversation_resumes_where_the_buyer_was(settings, catalogs, clock, demo_order):
    from bot.orders.demo import seed
    from tests.conftest import NOW

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seed(settings.demo_orders_path, now=NOW)
    order = demo_order["packaging_on_time"]

    def fresh():
        return build_app(settings, catalogs=catalogs, clock=clock, orders=DemoOrderProvider(settings.demo_orders_path),
                         store=SqliteStore(settings.store_path))

    first = fresh()
    await ChatDriver(first, "r1", "ru").send(order.order_number)
    await first.close()
    second = fresh()  # a new process on the same files
    chat = ChatDriver(second, "r1", "ru")
    await chat.send(order.phone_last4)
    assert order.posting_number in chat.text
    await second.close()


async def test_backend_unavailable_is_a_polite_try_later(settings, catalogs, clock, tmp_path):
    class Down:
        async def find(self, ref):
            raise OrderBackendUnavailable("503 from upstream")

        async def close(self):
            return None

    app = build_app(settings, catalogs=catalogs, clock=clock, orders=Down(), store=SqliteStore(tmp_path / "s.sqlite3"))
    chat = ChatDriver(app, "down", "zh")
    await chat.send("57195475-0050-3")
    assert "暂时无法访问" in chat.text and "503" not in chat.text
    await app.close()


async def test_asking_again_about_a_proven_order_reads_it_afresh(settings, catalogs, clock, tmp_path, demo_order):
    """The second "где мой заказ" shows the order's current status, without the phone check again;
    with the backend down, the copy from earlier in the conversation serves."""
    order = demo_order["packaging_on_time"]

    class Moving:
        current, down = order, False

        async def find(self, ref):
            if self.down:
                raise OrderBackendUnavailable("timeout")
            return [self.current] if ref.order_number == order.order_number else []

        async def close(self):
            return None

    orders = Moving()
    app = build_app(settings, catalogs=catalogs, clock=clock, orders=orders, store=SqliteStore(tmp_path / "s.sqlite3"))
    chat = ChatDriver(app, "again", "ru")
    await verify(chat, order)
    assert "ожидает сборки" in chat.text
    before = await app.store.load_state("again")
    orders.current = demo_order["delivering_on_time"].model_copy(
        update={"posting_number": order.posting_number, "order_number": order.order_number,
                "phone_last4": order.phone_last4})
    await chat.send("/menu")
    await chat.send("Где мой заказ?")
    assert "в пути" in chat.text and "последние 4 цифры" not in chat.text
    after = await app.store.load_state("again")
    assert after.order_model().status == "delivering" and after.lookups == before.lookups
    orders.down = True
    await chat.send("/menu")
    await chat.send("Где мой заказ?")
    assert "в пути" in chat.text and "недоступ" not in chat.text.lower()
    assert (await app.store.load_state("again")).order_model().status == "delivering"
    await app.close()


async def test_flow_edit_does_not_break_a_conversation_in_progress(settings, catalogs, clock, tmp_path, demo_order):
    """A conversation finishes on the version it started with; new ones get the new version."""
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("tests", "graphs"))
    (flows / "probe.yaml").write_text(
        "id: probe\ntitle: menu.title\ntriggers: {commands: [probe]}\nstart: ask\nnodes:\n"
        "  ask:\n    kind: choice\n    say: menu.greeting\n    options:\n"
        "      - {id: go, label: common.to_menu, goto: done}\n"
        "  done: {kind: end, resolved: true, say: common.bot_resumed}\n", encoding="utf-8")
    registry = FlowRegistry(load_flows(flows, catalogs))
    app = build_app(settings, catalogs=catalogs, clock=clock, registry=registry,
                    store=SqliteStore(tmp_path / "s.sqlite3"),
                    orders=DemoOrderProvider(tmp_path / "o.sqlite3"))
    chat = ChatDriver(app, "edit", "ru")
    await chat.send("/probe")
    # the operator renames the nodes: 'done' disappears from the new version
    (flows / "probe.yaml").write_text((flows / "probe.yaml").read_text().replace("done", "finished"), encoding="utf-8")
    app.content = app.content.replacing(catalogs, load_flows(flows, catalogs))  # what a live reload does
    await chat.press("В главное меню")
    assert "снова на связи" in chat.text  # finished on the old version's 'done' node
    await app.close()


async def test_restart_after_an_edit_moves_on_only_where_the_node_still_exists(settings, catalogs, clock, tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("tests", "graphs"))
    store_path = tmp_path / "s.sqlite3"
    app = build_app(settings, catalogs=catalogs, clock=clock, registry=FlowRegistry(load_flows(flows, catalogs)),
                    store=SqliteStore(store_path), orders=DemoOrderProvider(tmp_path / "o.sqlite3"))
    await ChatDriver(app, "gone", "ru").send("/lang")
    await app.close()
    renamed = (flows / "language.yaml").read_text().replace("start: pick", "start: choose")
    renamed = renamed.replace("  pick:", "  choose:")
    (flows / "language.yaml").write_text(renamed, encoding="utf-8")
    app2 = build_app(settings, catalogs=catalogs, clock=clock, registry=FlowRegistry(load_flows(flows, catalogs)),
                     store=SqliteStore(store_path), orders=DemoOrderProvider(tmp_path / "o.sqlite3"))
    chat = ChatDriver(app2, "gone", "ru")
    await chat.send("1")
    assert "обновился" in chat.text and chat.buttons  # apologises and shows the menu
    await app2.close()


async def test_runaway_flow_is_stopped_by_the_step_limit(settings, catalogs, clock, tmp_path):
    """Jumps between flows are not loops inside one flow, so only the step limit can stop them."""
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("tests", "graphs"))
    for a, b in (("ping", "pong"), ("pong", "ping")):
        (flows / f"{a}.yaml").write_text(
            f"id: {a}\ntitle: menu.title\ntriggers: {{commands: [{a}]}}\nstart: s\nnodes:\n"
            f"  s: {{kind: say, say: menu.title, next: 'flow:{b}'}}\n", encoding="utf-8")
    app = build_app(settings, catalogs=catalogs, clock=clock, registry=FlowRegistry(load_flows(flows, catalogs)),
                    store=SqliteStore(tmp_path / "s.sqlite3"), orders=DemoOrderProvider(tmp_path / "o.sqlite3"))
    chat = ChatDriver(app, "loop", "ru")
    await chat.send("/ping")
    assert "что-то пошло не так" in chat.text and len(chat.texts) < 5
    events = [e.name for e in await app.store.analytics()]
    assert "internal_error" in events
    await app.close()


async def test_language_follows_client_code_then_script(app):
    zh = ChatDriver(app, "l1", "zh-hans")
    await zh.send("/start")
    assert "您好" in zh.text
    unknown = ChatDriver(app, "l2", "")
    await unknown.send("Здравствуйте")
    assert "Здравствуйте" in unknown.text
    unknown2 = ChatDriver(app, "l3", "en")
    await unknown2.send("您好")
    assert "您好" in unknown2.text


async def test_analytics_record_flow_and_nodes(app, demo_order):
    chat = ChatDriver(app, "an", "ru")
    await chat.send("/agent")
    names = [(e.name, e.data.get("flow")) for e in await app.store.analytics()]
    assert ("flow_started", "talk_to_agent") in names
    assert any(e.name == "flow_ended" and e.data["outcome"] == "handed_off" for e in await app.store.analytics())


async def test_signed_deep_link_proves_ownership_without_phone_digits(app, demo_order):
    from bot.engine.events import Start

    order = demo_order["fbo_no_phone"]  # FBO: the API gives no phone, so only a link or an agent can prove it
    reply = await app.handle("link", Start(verified_posting=order.posting_number), Buyer("link", "ru"))
    texts = " ".join(m.text for m in reply.outgoing)
    assert "последние 4 цифры" not in texts and "handoff" not in [m.kind for m in reply.outgoing]
    state = await app.store.load_state("link")
    assert order.order_number in state.verified and state.order_model().posting_number == order.posting_number


@pytest.mark.parametrize("text, lang, flow", [
    ("хочу отменить заказ {n}", "ru", "cancel_order"),
    ("我想取消订单 {n}", "zh", "cancel_order"),
    ("где мой заказ {n}?", "ru", "order_status"),
    ("{n}", "ru", "order_status"),
])
async def test_a_number_with_a_keyword_starts_that_flow_with_the_number(app, demo_order, text, lang, flow):
    order = demo_order["awaiting_deliver_on_time"]
    chat = ChatDriver(app, f"kw-{flow}-{lang}-{len(text)}", lang)
    await chat.send(text.format(n=order.order_number))
    await chat.send(order.phone_last4)
    state = await app.store.load_state(chat.chat_id)
    assert state.path[0].startswith(flow + ":") and order.posting_number in chat.text
