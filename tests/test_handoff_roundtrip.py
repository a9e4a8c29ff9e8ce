"""Human handoff over the real PTB Application (bot/telegram) against the fake forum group.

A buyer asks for a person, the topic opens with the context card, messages go both ways as the
bot, edits are mirrored, agents' commands work, and nothing from outside a buyer's topic leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import App
from bot.handoff.records import SENT, TO_BUYER, TO_TOPIC
from bot.handoff.records_memory import MemoryHandoffRecords
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.handoff.service import TelegramHandoff
from bot.settings import Settings
from tests.fake_forum import FakeForum
from tests.test_telegram_harness import running_bot

TIMEOUT = 10.0
BUYER = 4242
AGENT = 501


class Harness:
    """The running bot, its handoff service, and helpers to act as a buyer or an agent."""

    def __init__(self, fake: FakeForum, app: App, handoff: TelegramHandoff, bot: Any) -> None:
        self.fake, self.app, self.handoff, self.bot = fake, app, handoff, bot

    async def until(self, predicate, timeout: float = TIMEOUT) -> Any:
        return await self.fake.wait_for(predicate, timeout)

    async def buyer_says(self, text: str, chat_id: int = BUYER, language_code: str = "ru") -> dict[str, Any]:
        uid = self.fake.text(chat_id, text, language_code)
        message = self.fake.messages_by_update(uid)
        await self.bot.processed(uid)
        return message

    async def buyer_photo(self, chat_id: int = BUYER) -> dict[str, Any]:
        uid = self.fake.photo(chat_id, "buyer-photo")
        message = self.fake.messages_by_update(uid)
        await self.bot.processed(uid)
        return message

    async def thread(self, chat_id: int = BUYER) -> int:
        topic = await self.handoff.records.topic(str(chat_id))
        assert topic is not None, "no topic for this buyer"
        return topic.thread_id

    async def topic_texts(self, chat_id: int = BUYER) -> list[str]:
        return self.texts_in(await self.thread(chat_id))

    def texts_in(self, thread: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.fake.thread_messages(thread)]

    async def until_topic(self, check: Callable[[list[str]], Any], chat_id: int = BUYER,
                          timeout: float = TIMEOUT) -> Any:
        """Wait until `check(the texts in the buyer's topic)` holds."""
        async def ready() -> Any:
            return check(await self.topic_texts(chat_id))
        return await self.until(ready, timeout)

    async def until_rated(self, rating: int, chat_id: int = BUYER) -> None:
        async def rated() -> bool:
            session = await self.handoff.records.last_session(str(chat_id))
            return session is not None and session.rating == rating
        await self.until(rated)

    def buyer_texts(self, chat_id: int = BUYER) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.fake.chat_messages(chat_id)]

    async def agent_says(self, text: str, chat_id: int = BUYER, agent: int = AGENT) -> dict[str, Any]:
        before = len(self.fake.chat_messages(chat_id))
        message = self.fake.agent_text(agent, await self.thread(chat_id), text)
        await self.until(lambda: len(self.fake.chat_messages(chat_id)) > before)
        return message

    async def agent_command(self, text: str, chat_id: int = BUYER, agent: int = AGENT, *, answers: int = 1,
                            method: str = "sendMessage") -> list[dict[str, Any]]:
        """Run a command in the buyer's topic; wait for the bot's `answers` messages in the topic."""
        thread = await self.thread(chat_id)
        before = len(self.fake.thread_messages(thread))
        self.fake.agent_text(agent, thread, text)
        await self.until(lambda: len(self.fake.thread_messages(thread)) >= before + answers)
        return self.fake.thread_messages(thread)[before:]

    async def settle(self, agent: int = AGENT) -> None:
        """Wait until the group's earlier updates are handled: a bare /diagnose in General is answered
        after them (updates of one chat are handled in order)."""
        before = len(self.fake.chat_messages(self.fake.group_id))
        self.fake.agent_text(agent, None, "/diagnose")
        await self.until(lambda: len(self.fake.chat_messages(self.fake.group_id)) > before)


@contextlib.asynccontextmanager
async def handoff_bot(fake: FakeForum, app: App, settings: Settings, clock, **overrides: Any) -> AsyncIterator[Harness]:
    settings.agents_chat_id = fake.group_id
    settings.agents_lang = overrides.pop("agents_lang", "ru")
    records = overrides.pop("records", None)
    for key, value in overrides.items():
        setattr(settings, key, value)
    handoff = TelegramHandoff(app, None, settings, clock=clock, records=records)
    async with running_bot(fake, app, settings, handoff=handoff) as bot:  # type: ignore[arg-type]
        handoff.install(bot.application, bot.application.bot_data["conversation"].start_flow)
        await handoff.startup(background=False)
        try:
            yield Harness(fake, app, handoff, bot)
        finally:
            await handoff.shutdown()
            await handoff.records.close()


@pytest.fixture
async def forum() -> AsyncIterator[FakeForum]:
    async with FakeForum() as f:
        f.add_agent(AGENT, "Лена", "lena_support")
        yield f
    assert f.unexpected == [], f"unexpected Bot API calls: {[c.method for c in f.unexpected]}"


@pytest.fixture
async def h(forum: FakeForum, app: App, settings: Settings, clock) -> AsyncIterator[Harness]:
    async with handoff_bot(forum, app, settings, clock) as harness:
        yield harness


async def start_handoff(h: Harness, chat_id: int = BUYER, language_code: str = "ru") -> None:
    await h.buyer_says("/agent", chat_id, language_code)
    async def opened() -> bool:
        topic = await h.handoff.records.topic(str(chat_id))
        return topic is not None and bool(h.fake.thread_messages(topic.thread_id))
    await h.until(opened)


# ---- tests ------------------------------------------------------------------------------------

async def test_full_round_trip_both_ways(h: Harness):
    await h.buyer_says("/start")
    assert await h.handoff.records.topic(str(BUYER)) is None, "a bare /start never opens a topic"
    await start_handoff(h)
    topic = h.fake.topics[await h.thread()]
    assert "Buyer4242" in topic["name"] and "RU" in topic["name"]
    card = (await h.topic_texts())[0]
    assert "Новое обращение" in card and str(BUYER) in card and "buyer_request" not in card
    assert "покупатель попросил оператора" in card
    assert "talk_to_agent:handoff" in card
    assert any("Перед Вами" in t or "Вы — первый" in t for t in h.buyer_texts())
    assert await h.handoff.is_active(str(BUYER))

    # buyer -> topic: text and a photo, copied as the bot
    sent_before = len(h.fake.sent(BUYER))
    await h.buyer_says("Где мой заказ? <b>срочно</b>")
    await h.until_topic(lambda texts: "Где мой заказ? <b>срочно</b>" in texts)
    await h.buyer_photo()
    thread = await h.thread()
    await h.until(lambda: any("photo" in m for m in h.fake.thread_messages(thread)))
    assert len(h.fake.sent(BUYER)) == sent_before, "the engine stays silent while agents own the conversation"

    # agent -> buyer, as the bot (no name)
    await h.agent_says("Здравствуйте! Проверяю Ваш заказ.")
    last = h.fake.chat_messages(BUYER)[-1]
    assert last["text"] == "Здравствуйте! Проверяю Ваш заказ." and "Лена" not in last["text"]
    session = await h.handoff.records.open_session(str(BUYER))
    assert session is not None and session.first_reply_at is not None

    # every relay recorded as sent
    relays = await h.handoff.records.relays(str(BUYER))
    assert {r.status for r in relays} == {SENT}
    assert any(r.direction == TO_TOPIC and r.op == "copy" for r in relays)
    assert any(r.direction == TO_BUYER and r.key.startswith("a:") for r in relays)


async def test_the_handoff_runs_on_records_in_memory(forum: FakeForum, app: App, settings: Settings, clock):
    """Any HandoffRecords will do (here the in-memory one, as a local agent mode would use)."""
    records = MemoryHandoffRecords()
    async with handoff_bot(forum, app, settings, clock, records=records) as h:
        await start_handoff(h)
        await h.buyer_says("Где мой заказ?")
        await h.until_topic(lambda texts: "Где мой заказ?" in texts)
        await h.agent_says("Уже смотрю")
        await h.agent_command("/close")
        prompt = await h.until(lambda: [m for m in h.fake.chat_messages(BUYER) if m.get("reply_markup")])
        h.fake.press(BUYER, prompt[-1]["reply_markup"]["inline_keyboard"][0][2]["callback_data"],
                     message_id=prompt[-1]["message_id"])
        await h.until_rated(3)
    assert {r.status for r in await records.relays(str(BUYER))} == {SENT}
    assert (await records.last_session(str(BUYER))).first_reply_at is not None
    on_disk = SqliteHandoffRecords(settings.store_path)
    assert await on_disk.relays() == [] and await on_disk.sessions() == [], "nothing went to the SQLite records"
    await on_disk.close()


async def test_edits_are_mirrored_both_ways(h: Harness):
    await start_handoff(h)
    original = await h.buyer_says("Заказ 46208137-0007")
    await h.until_topic(lambda texts: "Заказ 46208137-0007" in texts)
    h.fake.edit(original, "Заказ 46208137-0008")
    await h.until_topic(lambda texts: "Заказ 46208137-0008" in texts)
    assert "Заказ 46208137-0007" not in await h.topic_texts()

    said = await h.agent_says("Посылка в пути")
    h.fake.edit(said, "Посылка уже в пункте выдачи")
    await h.until(lambda: "Посылка уже в пункте выдачи" in h.buyer_texts())
    assert "Посылка в пути" not in h.buyer_texts()


async def test_signature_when_configured(forum: FakeForum, app: App, settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock, handoff_agent_signature="— {name}, поддержка") as h:
        await start_handoff(h)
        await h.agent_says("Добрый день")
        assert h.buyer_texts()[-1] == "Добрый день\n\n— Лена, поддержка"


async def test_close_asks_rating_and_bot_resumes(h: Harness, app: App):
    await start_handoff(h)
    await h.agent_says("Готово, заказ отменён.")
    answers = await h.agent_command("/close")
    assert "завершил" in answers[-1]["text"]
    assert not await h.handoff.is_active(str(BUYER))
    await h.until(lambda: any(m.get("reply_markup") for m in h.fake.chat_messages(BUYER)))
    texts = h.buyer_texts()
    assert app.renderer.text("common.bot_resumed", "ru") in texts
    prompt = [m for m in h.fake.chat_messages(BUYER) if m.get("reply_markup")][-1]
    data = prompt["reply_markup"]["inline_keyboard"][0][4]["callback_data"]
    uid = h.fake.press(BUYER, data, message_id=prompt["message_id"])
    await h.until_rated(5)
    await h.until_topic(lambda texts: any("5/5" in t for t in texts))
    for _ in range(200):  # the rating's update gets its outcome too (a restart would not replay it)
        if await app.store.inbox_status(f"tg:{uid}") == "done":
            break
        await asyncio.sleep(0.01)
    assert await app.store.inbox_status(f"tg:{uid}") == "done"
    # the engine answers again
    before = len(h.fake.sent(BUYER))
    await h.buyer_says("/menu")
    assert len(h.fake.sent(BUYER)) > before


async def test_reopen_lets_buyers_prove_an_order_again(h: Harness, app: App):
    await start_handoff(h)
    for buyer in ("x1", "x2", "x3"):
        await app.store.owner_wrong("46208137-0007", buyer, 1.0, lock_after=1, since=0.0)
    answers = await h.agent_command("/reopen 46208137-0007")
    assert "46208137-0007" in answers[-1]["text"]
    record = await app.store.owner_record("46208137-0007", "x1", 0.0)
    assert (record.buyer_locked, record.order_wrong) == (False, 0)
    before = len(h.fake.chat_messages(BUYER))
    usage = await h.agent_command("/reopen")  # no number given and none in the conversation
    assert "/reopen" in usage[-1]["text"] and len(h.fake.chat_messages(BUYER)) == before, "never to the buyer"


async def test_note_is_stored_and_never_relayed(h: Harness):
    await start_handoff(h)
    before = len(h.fake.chat_messages(BUYER))
    answers = await h.agent_command("/note покупатель нервничает, предложить купон")
    assert "Заметка сохранена" in answers[-1]["text"]
    assert (await h.handoff.records.notes(str(BUYER)))[0]["text"] == "покупатель нервничает, предложить купон"
    assert len(h.fake.chat_messages(BUYER)) == before


async def test_order_and_diagnose_commands(h: Harness, demo_order):
    order = demo_order["registration_error"]
    await h.buyer_says("/start")
    await start_handoff(h)
    answers = await h.agent_command(f"/order {order.posting_number}")
    assert order.posting_number in answers[-1]["text"] and "Свежие данные" in answers[-1]["text"]
    answers = await h.agent_command(f"/diagnose {order.posting_number}")
    text = answers[-1]["text"]
    assert "posting_registration_error" in text and "Способ доставки" in text and "Что делать" in text
    # /diagnose NUMBER in the General topic works too
    before = len(h.fake.calls_of("sendMessage", h.fake.group_id))
    late = demo_order["awaiting_deliver_late"]
    h.fake.agent_text(AGENT, None, f"/diagnose {late.posting_number}")
    calls = await h.until(lambda: (lambda c: c[before:] if len(c) > before else None)(
        h.fake.calls_of("sendMessage", h.fake.group_id)))
    assert "просрочен" in calls[-1].params["text"] and not calls[-1].params.get("message_thread_id")


async def test_history_is_a_text_file(h: Harness):
    await start_handoff(h)
    await h.buyer_says("Привет, где посылка?")
    await h.until_topic(lambda texts: "Привет, где посылка?" in texts)
    await h.agent_says("Сейчас посмотрю")
    await h.agent_command("/history")
    doc = [c for c in h.fake.calls_of("sendDocument", h.fake.group_id)][-1]
    thread = await h.thread()
    content = h.fake.documents[[m for m in h.fake.thread_messages(thread) if "document" in m][-1]["message_id"]]
    text = content.decode()
    assert "Привет, где посылка?" in text and "Сейчас посмотрю" in text
    assert doc.params["message_thread_id"] == thread
    # the buyer's own transcript (their /history) holds the agent's answer too
    mine = await h.handoff.desk.app.store.transcript(str(BUYER))
    assert ("agent", "Сейчас посмотрю") in [(e.direction, e.text) for e in mine]


async def test_flow_sends_the_buyer_back_into_a_flow(h: Harness, app: App):
    await start_handoff(h)
    answers = await h.agent_command("/flow order")
    assert "order_status" in answers[-1]["text"]
    assert not await h.handoff.is_active(str(BUYER))
    await h.until(lambda: any(app.renderer.text("lookup.ask_number", "ru")[:20] in t for t in h.buyer_texts())
                  if app.catalogs.text("lookup.ask_number", "ru") else len(h.fake.sent(BUYER)) > 0)
    state = await app.store.load_state(str(BUYER))
    assert state is not None and state.at is not None and state.at.flow == "order_status"


async def test_block_and_unblock(h: Harness):
    await start_handoff(h)
    await h.agent_command("/block")
    before_topic = len(await h.topic_texts())
    before_buyer = len(h.fake.sent(BUYER))
    await h.buyer_says("спам спам спам")
    await h.buyer_says("/start")
    await h.settle()
    assert len(await h.topic_texts()) == before_topic
    assert len(h.fake.sent(BUYER)) == before_buyer, "a blocked buyer gets nothing, from the bot or agents"
    await h.agent_command("/unblock")
    assert not await h.handoff.is_active(str(BUYER))
    await h.buyer_says("/start")
    assert len(h.fake.sent(BUYER)) > before_buyer


async def test_buyer_leaves_with_bot_command(h: Harness):
    await start_handoff(h)
    await h.buyer_says("/bot")
    assert not await h.handoff.is_active(str(BUYER))
    await h.until_topic(lambda texts: any("/bot" in t for t in texts[1:]))
    assert h.fake.sent(BUYER), "the bot answered /bot itself"


async def test_topic_reused_for_the_next_handoff(h: Harness):
    await start_handoff(h)
    first = await h.thread()
    await h.agent_command("/close")
    await h.buyer_says("/agent")
    await h.until_topic(lambda texts: sum("обращение" in t.lower() or "оператор" in t for t in texts) >= 2)
    assert await h.thread() == first and len(h.fake.topics) == 1
    assert any("снова просит оператора" in t for t in await h.topic_texts())


async def test_unauthorized_senders_are_ignored(h: Harness):
    await start_handoff(h)
    await start_handoff(h, chat_id=777)
    buyer_before = len(h.fake.chat_messages(BUYER))
    other_before = len(h.fake.chat_messages(777))
    # not a member of the group, inside a buyer's topic
    h.fake.agent_text(9999, await h.thread(), "я не сотрудник")
    # a member, in the General topic
    h.fake.agent_text(AGENT, None, "сообщение в General")
    # a member, in a topic no buyer owns
    h.fake.topics[999] = {"name": "чат сотрудников", "closed": False, "deleted": False}
    h.fake.agent_text(AGENT, 999, "болтовня сотрудников")
    await h.settle()
    assert len(h.fake.chat_messages(BUYER)) == buyer_before
    assert len(h.fake.chat_messages(777)) == other_before
    # a buyer's message only ever reaches their own topic
    await h.buyer_says("только для моей темы", chat_id=777)
    await h.until_topic(lambda texts: "только для моей темы" in texts, 777)
    assert "только для моей темы" not in await h.topic_texts(BUYER)


async def test_action_notice_and_seen_button(h: Harness, app: App, demo_order):
    from bot.engine.effects import Action
    from bot.engine.events import Buyer
    from bot.engine.state import ConversationState

    order = demo_order["packaging_seller_late"]
    await h.buyer_says("/start", language_code="zh")
    state = ConversationState(lang="zh", order=order.model_dump_json())
    await h.handoff.notify_action(str(BUYER), Buyer(str(BUYER), "zh", "Ван Мин"),
                                  Action("urge_seller", {"posting": order.posting_number}), state)
    notice = h.fake.calls_of("sendMessage", h.fake.group_id)[-1]
    assert "ускорить отправку" in notice.params["text"] and order.posting_number in notice.params["text"]
    assert not notice.params.get("message_thread_id"), "notices go to the General topic"
    button = notice.params["reply_markup"]["inline_keyboard"][0][0]
    message_id = [m for m in h.fake.chat_messages(h.fake.group_id) if m.get("reply_markup")][-1]["message_id"]
    h.fake.group_press(AGENT, button["callback_data"], message_id)
    await h.until(lambda: any("尽快发货" in t for t in h.buyer_texts()))
    assert "Просмотрено" in h.fake.messages[(h.fake.group_id, message_id)]["text"]
    # a second press does not tell the buyer twice
    h.fake.group_press(AGENT, button["callback_data"], message_id)
    await h.settle()
    assert sum("尽快发货" in t for t in h.buyer_texts()) == 1


async def _notice(h: Harness, order, action: str, lang: str = "ru"):
    from bot.engine.effects import Action
    from bot.engine.events import Buyer
    from bot.engine.state import ConversationState

    await h.buyer_says("/start", language_code=lang)
    state = ConversationState(lang=lang, order=order.model_dump_json())
    await h.handoff.notify_action(str(BUYER), Buyer(str(BUYER), lang, "Ван Мин"),
                                  Action(action, {"posting": order.posting_number}), state)
    notice = h.fake.calls_of("sendMessage", h.fake.group_id)[-1]
    message_id = [m for m in h.fake.chat_messages(h.fake.group_id) if m.get("reply_markup")][-1]["message_id"]
    return notice, message_id


def _buttons(h: Harness, message_id: int) -> dict[str, str]:
    markup = h.fake.messages[(h.fake.group_id, message_id)].get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def test_request_outcome_done_tells_the_buyer_and_is_final(h: Harness, app: App, demo_order):
    """Seen, then Done: the buyer hears both, in their language; a second outcome changes nothing."""
    order = demo_order["packaging_on_time"]
    notice, message_id = await _notice(h, order, "request_cancellation", "zh")
    first = {b["text"]: b["callback_data"] for row in notice.params["reply_markup"]["inline_keyboard"] for b in row}
    assert any("Увидел" in t for t in first) and any("Выполнено" in t for t in first)
    assert any("Отказать" in t for t in first)
    seen = next(v for k, v in first.items() if "Увидел" in k)
    h.fake.group_press(AGENT, seen, message_id)
    await h.until(lambda: any("取消订单" in t and "正在处理" in t for t in h.buyer_texts()))
    after_seen = _buttons(h, message_id)
    assert not any("Увидел" in t for t in after_seen)
    assert any("Выполнено" in t for t in after_seen), "outcome buttons stay"
    h.fake.group_press(AGENT, next(v for k, v in after_seen.items() if "Выполнено" in k), message_id)
    await h.until(lambda: any("已取消订单" in t and order.posting_number in t for t in h.buyer_texts()))
    assert _buttons(h, message_id) == {}
    h.fake.group_press(AGENT, first[next(k for k in first if "Отказать" in k)], message_id)
    await h.settle()
    assert not any("没能办成" in t for t in h.buyer_texts())
    stored = (await h.handoff.records.notices())[-1]
    assert (stored["outcome"], stored["seen_at"] is not None) == ("done", True)


async def test_request_outcome_declined_with_a_reason(h: Harness, app: App, demo_order):
    from bot.handoff.figures import containment_figures

    order = demo_order["awaiting_deliver_on_time"]
    _, message_id = await _notice(h, order, "request_cancellation", "ru")
    declined = next(v for k, v in _buttons(h, message_id).items() if "Отказать" in k)
    h.fake.group_press(AGENT, declined, message_id)
    await h.until(lambda: any("уже передан в доставку" in k for k in _buttons(h, message_id)))
    reason = next(v for k, v in _buttons(h, message_id).items() if "уже передан в доставку" in k)
    h.fake.group_press(AGENT, reason, message_id)
    await h.until(lambda: any("не смогли выполнить" in t and "отказаться при получении" in t for t in h.buyer_texts()))
    assert "Отказано" in h.fake.messages[(h.fake.group_id, message_id)]["text"]
    fig = await containment_figures(app.store, h.handoff.records)
    assert fig.staff_requests["request_cancellation"]["declined"] == 1
    assert fig.staff_declined_by_reason == {"shipped": 1}


async def test_the_card_carries_the_order_the_buyer_proved(h: Harness, demo_order):
    """The order looked up in the conversation reaches the agents' card (from the state's snapshot)."""
    order = demo_order["packaging_seller_late"]
    await h.buyer_says(f"Где мой заказ {order.order_number}?")
    await h.buyer_says(order.phone_last4)
    assert order.posting_number in h.buyer_texts()[-1], "the buyer saw the order's status"
    await start_handoff(h)
    card = (await h.topic_texts())[0]
    assert order.posting_number in card and "не назвал или не подтвердил" not in card
    assert "talk_to_agent:handoff" in card


async def test_buyer_media_of_every_kind_is_copied(h: Harness):
    await start_handoff(h)
    voice = {"file_id": "voice-1", "file_unique_id": "v1", "duration": 3}
    video = {"file_id": "video-1", "file_unique_id": "vd1", "width": 640, "height": 480, "duration": 5}
    h.fake.document(BUYER, "receipt", mime_type="application/zip")  # even a file the flows would refuse
    uid = h.fake.message(BUYER, voice=voice)
    await h.bot.processed(uid)
    uid = h.fake.message(BUYER, video=video, caption="коробка мятая")
    await h.bot.processed(uid)
    thread = await h.thread()
    await h.until(lambda: len(h.fake.thread_messages(thread)) >= 4)
    copied = h.fake.thread_messages(thread)[1:]
    assert "document" in copied[0] and "voice" in copied[1] and copied[2].get("caption") == "коробка мятая"
    agent_photo = h.fake.agent_photo(AGENT, thread, caption="Вот так должно выглядеть")
    await h.until(lambda: any(m.get("caption") == "Вот так должно выглядеть" for m in h.fake.chat_messages(BUYER)))
    assert agent_photo["photo"] == h.fake.chat_messages(BUYER)[-1]["photo"]


async def test_replies_point_at_the_right_message_on_both_sides(h: Harness):
    await start_handoff(h)
    first = await h.buyer_says("Вопрос про доставку")
    await h.buyer_says("И ещё про оплату")
    await h.until_topic(lambda texts: "И ещё про оплату" in texts)
    copy_of_first = next(m for m in h.fake.thread_messages(await h.thread()) if m.get("text") == "Вопрос про доставку")
    before = len(h.fake.chat_messages(BUYER))
    h.fake.agent_text(AGENT, await h.thread(), "Про доставку: завтра", reply_to=copy_of_first["message_id"])
    await h.until(lambda: len(h.fake.chat_messages(BUYER)) > before)
    call = h.fake.calls_of("copyMessage", BUYER)[-1]
    assert call.params["reply_parameters"]["message_id"] == first["message_id"]
    # the buyer answers the agent's message: the topic copy replies to the agent's original
    agent_copy = h.fake.chat_messages(BUYER)[-1]
    agent_original = h.fake.calls_of("copyMessage", BUYER)[-1].params["message_id"]
    uid = h.fake.message(BUYER, text="Спасибо!", reply_to_message=agent_copy)
    await h.bot.processed(uid)
    call = h.fake.calls_of("copyMessage", h.fake.group_id)[-1]
    assert call.params["reply_parameters"]["message_id"] == agent_original


async def test_chinese_agents_serve_a_russian_buyer(forum: FakeForum, app: App, settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock, agents_lang="zh") as h:
        await start_handoff(h, language_code="ru")
        card = (await h.topic_texts())[0]
        assert "新的转人工请求" in card and "Русский" in card and "买家主动要求人工" in card
        assert any("Вы — первый" in t for t in h.buyer_texts()), "the buyer keeps their own language"
        answers = await h.agent_command("/note 已核实")
        assert "备注已保存" in answers[-1]["text"]


async def test_each_request_offers_its_own_decline_reasons(h: Harness, app: App, demo_order):
    """A return is not declined as "already shipped", nor compensation as a return."""
    order = demo_order["delivered_received"]
    _, message_id = await _notice(h, order, "open_return", "zh")
    declined = next(v for k, v in _buttons(h, message_id).items() if "Отказать" in k)
    h.fake.group_press(AGENT, declined, message_id)
    await h.until(lambda: any("Назад" in k for k in _buttons(h, message_id)))
    labels = list(_buttons(h, message_id))
    assert any("возврат по этой причине" in k for k in labels) and not any("доставку" in k for k in labels)
    h.fake.group_press(AGENT, next(v for k, v in _buttons(h, message_id).items() if "Назад" in k), message_id)
    await h.until(lambda: any("Выполнено" in k for k in _buttons(h, message_id)))
    h.fake.group_press(AGENT, next(v for k, v in _buttons(h, message_id).items() if "Выполнено" in k), message_id)
    await h.until(lambda: any("同意退货" in t and "«Вернуть товар»（退货）" in t for t in h.buyer_texts()))
