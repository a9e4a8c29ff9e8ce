"""The Ozon chat front end against a fake Ozon chat API on loopback: push and polling into the
inbox, replies rendered without buttons, read marks, repeats, recovery, ownership from the chat's
context, reply windows, the missing subscription and the handoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.orders.ozon.client import OzonClient
from bot.ozonchat.adapter import ChatContext, OzonChatAdapter
from bot.ozonchat.api import OzonChatApi
from bot.ozonchat.render import choices_shown
from tests.conftest import NOW
from tests.fake_ozon import API_KEY, CLIENT_ID
from tests.fake_ozon_chat import READ, SEND, FakeOzonChat

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fake():
    async with FakeOzonChat() as server:
        yield server


def make_api(fake: FakeOzonChat) -> OzonChatApi:
    return OzonChatApi(OzonClient(CLIENT_ID, API_KEY, base_url=fake.url))


@pytest.fixture
async def adapter(app, fake, clock):
    api = make_api(fake)
    a = OzonChatAdapter(app, api, clock=clock.now)
    yield a
    await a.close()
    await api.close()


async def settle(adapter: OzonChatAdapter) -> None:
    await asyncio.wait_for(adapter.drain(), 20)


async def test_push_answers_with_numbered_choices_and_marks_read(adapter, fake):
    push = fake.buyer_writes("chat-1", "Здравствуйте", at=NOW)
    await adapter.handle_push(push)
    await settle(adapter)
    sent = fake.sent("chat-1")
    assert sent, "the bot answered in Ozon chat"
    menu = choices_shown(sent[-1])
    assert len(menu) >= 5 and menu[0]  # the main menu, as numbered lines
    assert fake.chats["chat-1"].read_upto == int(push["message_id"])
    status = await adapter.store.inbox_status(f"oz:{push['message_id']}")
    assert status == "done"
    # the typed number picks the option shown under that number
    await adapter.handle_push(fake.buyer_writes("chat-1", "1", at=NOW))
    await settle(adapter)
    assert "57195475-0050" in fake.sent("chat-1")[-1]  # the order-status flow asks for the number


# ---- inbox: repeats, polling, restart ---------------------------------------------------------

async def test_a_repeated_push_and_a_poll_of_the_same_message_answer_once(adapter, fake):
    push = fake.buyer_writes("chat-r", "Здравствуйте", at=NOW)
    await adapter.handle_push(push)
    await adapter.handle_push(dict(push))  # Ozon resends
    await settle(adapter)
    answered = len(fake.sent("chat-r"))
    fake.chats["chat-r"].read_upto = 0  # as if the read mark was lost: the poll sees it unread again
    assert await adapter.poll_once() == 0
    await settle(adapter)
    assert len(fake.sent("chat-r")) == answered
    assert fake.chats["chat-r"].read_upto == int(push["message_id"])  # ... and marks it read again
    entries = await adapter.store.transcript("oz:chat-r")
    assert [e.text for e in entries if e.direction == "in"] == ["Здравствуйте"]


async def test_polling_without_push_answers_unread_chats_in_order(adapter, fake):
    fake.buyer_writes("chat-p", "Здравствуйте", at=NOW)
    fake.buyer_writes("chat-p", "1", at=NOW)
    fake.buyer_writes("chat-q", "你好", at=NOW)
    assert await adapter.poll_once() == 3
    await settle(adapter)
    assert "57195475-0050" in fake.sent("chat-p")[-1]  # "1" was handled after the greeting's menu
    assert choices_shown(fake.sent("chat-q")[-1])  # the Chinese buyer got the menu
    assert all(not c.unread() for c in fake.chats.values())
    assert await adapter.poll_once() == 0


async def test_a_message_stored_before_a_crash_is_answered_once_after_restart(app, fake, clock):
    api = make_api(fake)
    first = OzonChatAdapter(app, api, clock=clock.now)
    first._enqueue = lambda conversation, key: None  # type: ignore[method-assign]  # crash: stored, not handled
    push = fake.buyer_writes("chat-c", "Здравствуйте", at=NOW)
    await first.handle_push(push)
    assert fake.sent("chat-c") == [] and fake.chats["chat-c"].read_upto == 0  # never read before handled
    second = OzonChatAdapter(app, api, clock=clock.now)
    assert await second.recover() == 1
    await settle(second)
    assert len(fake.sent("chat-c")) == 1
    assert fake.chats["chat-c"].read_upto == int(push["message_id"])
    third = OzonChatAdapter(app, api, clock=clock.now)
    assert await third.recover() == 0
    await api.close()


async def test_markdown_is_read_as_text():
    from bot.ozonchat.inbound import plain

    assert plain("Подойдет ли на [ модель ](https://www.ozon.ru/product/x) **телефона**?") == \
        "Подойдет ли на модель https://www.ozon.ru/product/x телефона?"


# ---- ownership from the chat's context ----------------------------------------------------------

async def test_the_chats_order_is_proven_and_another_order_needs_the_usual_proof(adapter, fake, demo_order):
    mine = demo_order["packaging_seller_late"]
    other = demo_order["delivering_late"]
    await adapter.handle_push(fake.buyer_writes("chat-o", "где мой заказ?", order_number=mine.order_number, at=NOW))
    await settle(adapter)
    said = "\n".join(fake.sent("chat-o"))
    assert mine.posting_number in said  # the status, without asking for the phone
    assert "последние 4 цифры" not in said
    events = [e.name for e in await adapter.store.analytics()]
    assert "owner_proven" in events
    await adapter.handle_push(fake.buyer_writes("chat-o", f"а заказ {other.order_number}?", at=NOW))
    await settle(adapter)
    assert "последние 4 цифры" in fake.sent("chat-o")[-1]  # another order: proof first
    assert other.posting_number not in "\n".join(fake.sent("chat-o"))


# ---- Ozon's rules -------------------------------------------------------------------------------

def test_reply_windows_follow_the_scheme(demo_order):
    from bot.orders.model import Scheme
    from bot.ozonchat.rules import reply_window

    packing = demo_order["packaging_seller_late"]
    assert reply_window(packing, None, NOW).open  # FBS/rFBS: from payment on, whatever the buyer wrote
    delivered = demo_order["delivered_received"]
    at = delivered.delivered_at
    assert reply_window(delivered, None, at + timedelta(hours=71)).open
    assert not reply_window(delivered, None, at + timedelta(hours=73)).open
    late = at + timedelta(hours=100)
    assert reply_window(delivered, late - timedelta(hours=47), late).rule == "buyer_48h"
    assert not reply_window(delivered, late - timedelta(hours=49), late).open
    fbo = demo_order["fbo_packaging"]
    assert fbo.scheme is Scheme.FBO
    assert not reply_window(fbo, None, NOW).open  # FBO: only within 48 h of the buyer's last message
    assert reply_window(fbo, NOW - timedelta(hours=47), NOW).open
    assert not reply_window(None, NOW - timedelta(hours=49), NOW).open  # no order known: the 48 h rule


async def test_a_reply_outside_the_window_becomes_an_agent_note(app, fake, clock, demo_order):
    notes: list[tuple[str, str, dict[str, str]]] = []

    async def note(conversation: str, msgid: str, params: dict[str, str]) -> None:
        notes.append((conversation, msgid, params))

    api = make_api(fake)
    clock.current = NOW + timedelta(hours=60)  # the message is handled 60 h after it was written
    adapter = OzonChatAdapter(app, api, clock=clock.now, note=note)
    fbo = demo_order["fbo_packaging"]
    await adapter.handle_push(fake.buyer_writes("chat-w", "Здравствуйте", order_number=fbo.order_number, at=NOW))
    await settle(adapter)
    assert fake.sent("chat-w") == []
    assert notes and notes[0][:2] == ("oz:chat-w", "agent_card.ozon_window_closed")
    assert notes[0][2]["text"]  # the reply the buyer did not get, for the agents
    out = [e for e in await adapter.store.transcript("oz:chat-w") if e.direction == "out"]
    assert out and all(e.delivered is False for e in out)
    assert await adapter.store.inbox_status(f"oz:{fake.chats['chat-w'].messages[0]['message_id']}") == "done"
    await adapter.close()
    await api.close()


def test_long_texts_are_split_at_sentences_under_1000_characters():
    from bot.ozonchat.rules import split_text

    sentence = "Заказ уже в пути, мы проверили статус у перевозчика. "
    text = sentence * 50 + "\n\n" + "最后一句。" * 10
    parts = split_text(text)
    assert len(parts) >= 3
    assert all(1 <= len(p) <= 1000 for p in parts)
    assert all(p.endswith((".", "。")) for p in parts)  # cut after a sentence, never inside one
    assert "".join(parts).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert [len(p) for p in split_text("x" * 2500)] == [1000, 1000, 500]  # no boundary at all: hard cuts
    assert split_text("   ") == []


async def test_a_long_reply_goes_out_as_several_messages_in_order(adapter, fake):
    fake.buyer_writes("chat-l", "Здравствуйте", at=NOW)  # the chat exists, the buyer just wrote
    adapter.contexts["chat-l"] = ChatContext(last_buyer_at=NOW)
    text = "\n".join(f"Строка {i}: " + "текст " * 20 for i in range(30))
    await adapter.channel.send_text("oz:chat-l", text)
    sent = fake.sent("chat-l")
    assert len(sent) >= 3 and all(len(s) <= 1000 for s in sent)
    assert [line.rstrip() for line in "\n".join(sent).split("\n")] == [line.rstrip() for line in text.split("\n")]


def test_texts_that_ozon_would_moderate_are_known_and_made_safe(catalogs):
    from bot.ozonchat.rules import moderation_problems, moderation_safe

    affected = set()
    for lang in catalogs.languages:
        for msgid in catalogs.ids(lang):
            for n in (1, 2, 5):
                text = catalogs.text(msgid, lang, n) or ""
                if moderation_problems(text):
                    affected.add((lang, msgid))
                    assert not moderation_problems(moderation_safe(text))
    # Only the phone-format hint carries a phone number (an example); in Ozon chat it is masked.
    assert affected == {("ru", "lookup.phone_format"), ("zh", "lookup.phone_format")}
    assert moderation_safe("позвоните +7 916 123-45-67 или https://t.me/shop, заказ 46208137-0007-1") == \
        "позвоните … или …, заказ 46208137-0007-1"


async def test_no_link_or_phone_reaches_ozon(adapter, fake):
    await adapter.handle_push(fake.buyer_writes("chat-m", "где мой заказ?", at=NOW))
    await adapter.handle_push(fake.buyer_writes("chat-m", "46208274-0014", at=NOW))
    await adapter.handle_push(fake.buyer_writes("chat-m", "12", at=NOW))  # not a phone: the format hint
    await settle(adapter)
    from bot.ozonchat.rules import moderation_problems

    assert len(fake.sent("chat-m")) >= 3
    assert all(not moderation_problems(t) for t in fake.sent("chat-m"))


# ---- the subscription ---------------------------------------------------------------------------

async def test_without_the_subscription_the_adapter_is_read_only_and_hands_chats_to_agents(app, clock):
    from bot.ozonchat.access import probe
    from tests.test_conversation import RecordingHandoff

    async with FakeOzonChat(subscription=False) as fake:
        api = make_api(fake)
        fake.chat("old").read_upto = int(fake.buyer_writes("old", "старое", at=NOW)["message_id"])
        access = await probe(api)
        assert (access.can_read, access.can_write) == (True, False)
        assert "read-only" in access.summary
        assert len(fake.calls_to(READ)) == 1  # the probe: on a chat read already, it changes nothing
        handoff = RecordingHandoff()
        adapter = OzonChatAdapter(app, api, handoff=handoff, writable=False, clock=clock.now)
        await adapter.handle_push(fake.buyer_writes("chat-s", "Здравствуйте", at=NOW))
        await settle(adapter)
        assert fake.calls_to(SEND) == [] and len(fake.calls_to(READ)) == 1
        assert handoff.active == {"oz:chat-s"}
        assert handoff.calls == [("start", "ozon_read_only"), ("relay", "Здравствуйте")]
        await adapter.close()
        await api.close()


async def test_a_refusal_naming_the_subscription_turns_the_adapter_read_only(app, clock):
    from tests.test_conversation import RecordingHandoff

    async with FakeOzonChat(subscription=False) as fake:
        api = make_api(fake)
        handoff = RecordingHandoff()
        adapter = OzonChatAdapter(app, api, handoff=handoff, clock=clock.now)  # not known: assumed writable
        await adapter.handle_push(fake.buyer_writes("chat-t", "Здравствуйте", at=NOW))
        await settle(adapter)
        assert not adapter.writable
        assert handoff.active == {"oz:chat-t"} and ("start", "ozon_read_only") in handoff.calls
        assert len(fake.calls_to(SEND)) == 1  # tried once, then no more
        await adapter.handle_push(fake.buyer_writes("chat-t", "алло", at=NOW))
        await settle(adapter)
        assert len(fake.calls_to(SEND)) == 1
        await adapter.close()
        await api.close()


async def test_with_the_subscription_the_probe_confirms_it(fake):
    from bot.ozonchat.access import probe

    api = make_api(fake)
    fake.chat("old").read_upto = int(fake.buyer_writes("old", "старое", at=NOW)["message_id"])
    assert (await probe(api)).can_write is True
    assert (await probe(api, ["/v1/roles"])).can_write is False  # the key's roles lack the chat methods
    await api.close()


# ---- the operators' flow tests through both front ends -----------------------------------------

@pytest.mark.timeout(300)  # 2 x 150 conversations: ~10 s alone, much more on a loaded machine
async def test_the_flow_tests_give_the_same_results_through_telegram_and_ozon_chat(catalogs):
    from bot.engine.loader import load_flows
    from bot.operators.flowtest_format import find_test_files
    from bot.operators.flowtests import run_tests
    from bot.settings import ROOT

    flowset = load_flows(ROOT / "flows", catalogs)
    files = find_test_files(ROOT / "flows" / "tests")
    telegram = await run_tests(flowset, catalogs, files, channel="telegram")
    ozon = await run_tests(flowset, catalogs, files, channel="ozon")
    outcome = {r.case.name: r.passed for r in telegram.results}
    assert outcome == {r.case.name: r.passed for r in ozon.results}
    assert all(outcome.values()) and len(outcome) > 100
    typed = [s.action for r in ozon.results for s in r.steps if "(typed" in s.action]
    assert len(typed) > 50  # presses went in as typed numbers
    shown = [t for r in ozon.results for s in r.steps for t in s.texts]
    assert any("\n1. " in t for t in shown)  # choices as numbered lines


# ---- push over HTTP, a turn saved before a crash, the CLI ------------------------------------------

async def test_push_handlers_serve_a_push_endpoint(adapter, fake):
    """The push endpoint (another module) maps message_type -> handler; here a stand-in on port 0."""
    import aiohttp
    from aiohttp import web

    from bot.ozonchat.run import push_handlers

    handlers = push_handlers(adapter)

    async def endpoint(request: web.Request) -> web.Response:
        payload = await request.json()
        handler = handlers.get(payload.get("message_type"))
        if handler is not None:
            await handler(payload)
        return web.json_response({"result": True})

    app = web.Application()
    app.router.add_post("/ozon/push/{secret}", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/ozon/push/s3cret"
            push = fake.buyer_writes("chat-x", "Здравствуйте", at=NOW)
            async with http.post(url, json=push) as resp:
                assert resp.status == 200
            await settle(adapter)
            assert choices_shown(fake.sent("chat-x")[-1])
            async with http.post(url, json={"message_type": "TYPE_CHAT_CLOSED", "chat_id": "chat-x",
                                            "chat_type": "Buyer_Seller", "user": {"id": "1", "type": "Customer"}}):
                pass
            assert not (await adapter.window("oz:chat-x")).open  # a closed chat takes nothing more
            async with http.post(url, json={"message_type": "TYPE_PING", "time": "2026-11-20T09:00:00Z"}) as resp:
                assert resp.status == 200  # not ours: ignored
    finally:
        await runner.cleanup()


async def test_a_turn_saved_before_a_crash_sends_its_replies_without_running_again(app, fake, clock):
    import json

    from bot.engine.events import Buyer, Text
    from bot.store.base import InboxItem

    push = fake.buyer_writes("chat-z", "Здравствуйте", at=NOW)
    key = f"oz:{push['message_id']}"
    payload = dict(push, chat_id="chat-z", edited=False)
    await app.store.inbox_add([InboxItem(key, "oz:chat-z", json.dumps(payload), 0.0)])
    # the turn ran and was saved with its receipt; the process died before sending anything
    reply = await app.handle("oz:chat-z", Text("Здравствуйте"), Buyer("oz:chat-z"), incoming=("text", "Здравствуйте"),
                             receipt=key)
    assert await app.store.inbox_status(key) == "turned"
    api = make_api(fake)
    adapter = OzonChatAdapter(app, api, clock=clock.now)
    assert await adapter.recover() == 1
    await settle(adapter)
    assert len(fake.sent("chat-z")) == len([m for m in reply.outgoing if m.kind == "say"])
    assert choices_shown(fake.sent("chat-z")[-1])
    assert [e.text for e in await app.store.transcript("oz:chat-z") if e.direction == "in"] == ["Здравствуйте"]
    assert await app.store.inbox_status(key) == "done"
    assert fake.chats["chat-z"].read_upto == int(push["message_id"])
    await api.close()


async def test_orders_check_says_whether_the_shop_can_write_in_ozon_chat():
    from tests.test_cli_orders import ozonbot

    async with FakeOzonChat() as fake:
        fake.chat("old").read_upto = int(fake.buyer_writes("old", "старое", at=NOW)["message_id"])
        rc, out, _ = await ozonbot("orders", "check", OZON_CLIENT_ID=CLIENT_ID, OZON_API_KEY=API_KEY,
                                   OZON_BASE_URL=fake.url)
        assert rc == 0 and "Ozon chat: answering" in out and "confirmed" in out
        fake.subscription = False
        rc, out, _ = await ozonbot("orders", "check", OZON_CLIENT_ID=CLIENT_ID, OZON_API_KEY=API_KEY,
                                   OZON_BASE_URL=fake.url)
        assert rc == 0 and "Ozon chat: read-only" in out and "Premium Plus" in out


async def test_run_with_ozon_chat_and_no_keys_says_what_is_missing():
    from tests.test_cli_orders import ozonbot

    rc, _, err = await ozonbot("run", OZON_CHAT="true", TELEGRAM_BOT_TOKEN="")
    assert rc == 1 and "OZON_CHAT=true needs OZON_CLIENT_ID and OZON_API_KEY" in err


async def test_a_poll_with_nothing_new_reads_no_history_again(app, clock):
    async with FakeOzonChat(subscription=False) as fake:
        api = make_api(fake)
        adapter = OzonChatAdapter(app, api, writable=False, clock=clock.now)
        fake.buyer_writes("chat-u", "Здравствуйте", at=NOW)
        assert await adapter.poll_once() == 1
        await settle(adapter)
        histories = len(fake.calls_to("/v3/chat/history"))
        assert await adapter.poll_once() == 0  # read-only: still unread in Ozon, but nothing new
        assert len(fake.calls_to("/v3/chat/history")) == histories
        fake.buyer_writes("chat-u", "алло", at=NOW)
        assert await adapter.poll_once() == 1
        await settle(adapter)
        await adapter.close()
        await api.close()


async def test_ozon_chat_at_start_up_says_what_the_key_may_do_and_polls(app, settings, fake):
    from bot.ozonchat.run import ozon_chat

    said: list[str] = []
    settings.ozon_chat, settings.ozon_chat_poll_seconds = True, 0.05
    fake.buyer_writes("chat-run", "Здравствуйте")  # now: the adapter runs on the real clock here
    registered: dict[str, object] = {}
    app.orders.on_push = lambda kind, handler: registered.__setitem__(kind, handler)  # as the order mirror has
    async with ozon_chat(app, settings, api=make_api(fake), say=said.append) as adapter:
        assert adapter is not None and adapter.writable
        assert set(registered) == {"TYPE_NEW_MESSAGE", "TYPE_UPDATE_MESSAGE", "TYPE_CHAT_CLOSED"}
        for _ in range(200):  # the poller finds the unread chat and answers it
            if fake.sent("chat-run"):
                break
            await asyncio.sleep(0.05)
    assert said and said[0].startswith("Ozon chat: answering")
    assert choices_shown(fake.sent("chat-run")[-1]) and not fake.chats["chat-run"].unread()
    settings.ozon_chat = False
    async with ozon_chat(app, settings) as nothing:
        assert nothing is None


def test_texts_that_mention_buttons_are_said_without_them_in_ozon_chat(app, catalogs):
    from bot.conversation.io import Reply
    from bot.ozonchat.render import VARIANTS, render_reply
    from bot.store.base import Outgoing

    for lang in catalogs.languages:
        for msgid, variant in VARIANTS.items():
            assert catalogs.text(variant, lang), f"{variant} missing in {lang}"
            reply = Reply([Outgoing("say", app.text(msgid, lang), {"msg": msgid})], [], lang)
            shown = render_reply(reply, text_of=app.text)[0].chunks[0]
            assert shown == app.text(variant, lang) != app.text(msgid, lang)
    assert "кнопк" not in app.text("ozonchat.not_understood", "ru")
