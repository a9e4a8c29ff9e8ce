"""The handoff's pure parts: working hours, diagnosis, agents' texts, topic names, catalogs, records."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.engine.state import ConversationState
from bot.handoff.card import AgentTexts, BuyerInfo
from bot.handoff.diagnose import diagnose
from bot.handoff.records import PENDING, SENT, TO_TOPIC
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.handoff.schedule import ScheduleError, WorkingHours
from bot.handoff.topics import WAITING, topic_name
from bot.i18n.render import Renderer
from bot.store.base import TranscriptEntry
from tests.conftest import NOW

HANDOFF_DIR = Path(__file__).resolve().parent.parent / "bot" / "handoff"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- working hours ----------------------------------------------------------------------------

def test_working_hours_in_their_time_zone():
    wh = WorkingHours.parse("09:00-18:00", "mon-fri", "Europe/Moscow")
    assert wh.is_open(utc(2026, 11, 20, 6, 0))  # Friday 09:00 Moscow
    assert not wh.is_open(utc(2026, 11, 20, 5, 59))
    assert not wh.is_open(utc(2026, 11, 20, 15, 0))  # 18:00 Moscow: closed
    assert not wh.is_open(utc(2026, 11, 21, 10, 0))  # Saturday
    opening = wh.next_opening(utc(2026, 11, 20, 16, 0))
    assert opening.isoformat() == "2026-11-23T09:00:00+03:00"  # Monday
    assert wh.current_opening(utc(2026, 11, 20, 7, 0)).hour == 9


def test_night_shift_and_whole_days():
    night = WorkingHours.parse("22:00-06:00", "mon-sun", "Asia/Shanghai")
    assert night.is_open(utc(2026, 11, 20, 15, 0))  # 23:00 Beijing
    assert night.is_open(utc(2026, 11, 20, 21, 0))  # 05:00 Beijing, shift of the day before
    assert not night.is_open(utc(2026, 11, 20, 23, 0))  # 07:00 Beijing
    always = WorkingHours.parse("00:00-24:00", "mon-sun", "UTC")
    assert always.is_open(utc(2026, 11, 22, 23, 59))
    weekend = WorkingHours.parse("10:00-16:00", "sat-sun", "UTC")
    assert weekend.days == frozenset({5, 6})
    assert WorkingHours.parse("10:00-16:00", "fri-mon", "UTC").days == frozenset({4, 5, 6, 0})


@pytest.mark.parametrize("hours,days,tz,error", [
    ("nine-18:00", "mon-fri", "UTC", "HH:MM"),
    ("09:00", "mon-fri", "UTC", "HH:MM-HH:MM"),
    ("09:00-18:00", "funday", "UTC", "mon..sun"),
    ("09:00-18:00", "mon-fri", "Mars/Olympus", "IANA"),
])
def test_bad_working_hours_say_how_to_fix(hours, days, tz, error):
    with pytest.raises(ScheduleError, match=error):
        WorkingHours.parse(hours, days, tz)


# ---- diagnosis (seed 002: no shipping label; seed 003: overdue) --------------------------------

def test_diagnose_registration_error(demo_order):
    d = diagnose(demo_order["registration_error"], NOW)
    assert "agent_card.diag.registration_error" in d.keys
    assert {"agent_card.todo.check_method", "agent_card.todo.check_address", "agent_card.todo.reregister",
            "agent_card.todo.ozon_ticket"} <= set(d.keys)


def test_diagnose_registration_on_time(demo_order):
    d = diagnose(demo_order["registration_on_time"], NOW)
    assert "agent_card.diag.registration_pending" in d.keys
    assert "agent_card.diag.registration_error" not in d.keys
    assert "agent_card.todo.refresh_later" in d.keys


def test_diagnose_packaging_seller_late(demo_order):
    d = diagnose(demo_order["packaging_seller_late"], NOW)
    assert d.keys[:2] == ["agent_card.diag.not_packed", "agent_card.diag.seller_late"]
    late = next(c for c in d.causes if c.msg == "agent_card.diag.seller_late")
    assert late.count == 24
    assert {"agent_card.todo.urge_seller", "agent_card.todo.offer_buyer", "agent_card.todo.appeal"} <= set(d.keys)


def test_diagnose_awaiting_deliver_late(demo_order):
    d = diagnose(demo_order["awaiting_deliver_late"], NOW)
    assert "agent_card.diag.label_exists" in d.keys and "agent_card.diag.seller_late" in d.keys


def test_diagnose_other_cases(demo_order):
    assert "agent_card.diag.not_processed" in diagnose(demo_order["payment_awaiting_approve"], NOW).keys
    assert "agent_card.diag.cancelled" in diagnose(demo_order["cancelled_out_of_stock"], NOW).keys
    assert "agent_card.diag.label_not_issue" in diagnose(demo_order["delivering_on_time"], NOW).keys
    assert "agent_card.diag.delivery_late" in diagnose(demo_order["delivering_late"], NOW).keys
    assert "agent_card.diag.unknown_status" in diagnose(demo_order["unknown_status"], NOW).keys
    no_city = demo_order["registration_on_time"].model_copy(update={"city": ""})
    assert "agent_card.diag.address" in diagnose(no_city, NOW).keys


@pytest.mark.parametrize("lang", ["zh", "ru"])
def test_diagnosis_text_in_agents_language(catalogs, demo_order, lang):
    texts = AgentTexts(Renderer(catalogs), lang)
    order = demo_order["registration_error"]
    text = texts.diagnosis(diagnose(order, NOW), order, NOW)
    assert order.posting_number in text and "agent_card." not in text and "{" not in text
    assert ("物流商登记失败" if lang == "zh" else "Ошибка регистрации") in text


# ---- the context card -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "ru"])
def test_context_card_escapes_everything_and_has_the_context(catalogs, demo_order, lang):
    texts = AgentTexts(Renderer(catalogs), lang)
    original = demo_order["cancelled_out_of_stock"]
    product = original.products[0].model_copy(update={"name": "Кабель <USB-C> & адаптер"})
    order = original.model_copy(update={"products": [product, *original.products[1:]]})
    state = ConversationState(lang="ru", order=order.model_dump_json(),
                              path=["main_menu:menu", "order_status:find", "talk_to_agent:handoff"])
    transcript = [TranscriptEntry(1, "1", "in", "text", "<script>alert(1)</script>", {}, 1.0, None),
                  TranscriptEntry(2, "1", "out", "say", "Заказ отменён", {}, 2.0, True)]
    card = texts.context_card(BuyerInfo("1", "Иван <b>Грозный</b>", "ivan_g", "ru"), state, "cancel_after_ship",
                              "talk_to_agent", "handoff", transcript, NOW, on_duty=["@lena"])
    assert "Иван &lt;b&gt;Грозный&lt;/b&gt;" in card and "<script>" not in card
    assert "Кабель &lt;USB-C&gt; &amp; адаптер" in card
    assert "@ivan_g" in card and order.posting_number in card and "@lena" in card
    assert "main_menu:menu → order_status:find → talk_to_agent:handoff" in card
    assert "cancel_after_ship" in card  # a reason with no label shows as is
    assert "agent_card." not in card and "{" not in card
    # the status is explained in the agents' language (catalog labels), with the cancellation
    assert catalogs.text("status.cancelled", lang) in card
    assert "Товар закончился на складе продавца" in card
    tags = re.findall(r"</?([a-z]+)", card)
    assert set(tags) <= {"b", "i", "code"}


def test_context_card_fits_one_message(catalogs):
    texts = AgentTexts(Renderer(catalogs), "ru")
    long = [TranscriptEntry(i, "1", "in", "text", "очень длинное сообщение " * 100, {}, float(i), None)
            for i in range(50)]
    card = texts.context_card(BuyerInfo("1", "A"), None, "buyer_request", "", "", long, NOW)
    assert len(card) <= 4096 and "очень длинное" in card


def test_topic_names_are_scannable_and_short():
    assert topic_name(WAITING, "Анна Петрова", "ru", "46208137-0007", "1") == "🟡 Анна Петрова · RU · 46208137-0007"
    assert topic_name(WAITING, "", "zh", "", "42") == "🟡 id42 · ZH"
    assert len(topic_name(WAITING, "x" * 500, "ru", "1" * 200, "1")) <= 128


# ---- catalogs -----------------------------------------------------------------------------------

def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in HANDOFF_DIR.glob("*.py"):
        keys |= set(re.findall(r"[\"']((?:agent_card|handoff)\.[a-z_.]+[a-z_])[\"']", path.read_text()))
    return keys


def test_every_handoff_text_exists_in_zh_and_ru_with_the_same_placeholders(catalogs):
    keys = _used_keys() | {f"handoff.action.{a}" for a in ("urge_seller", "request_cancellation", "open_return",
                                                             "refuse_delivery", "offer_compensation", "payment_check")}
    assert len(keys) > 60
    for key in sorted(keys):
        if key.endswith("."):
            continue
        forms = {}
        for lang in ("zh", "ru"):
            assert catalogs.text(key, lang), f"{key} missing in {lang}"
            info = catalogs.info(key, lang)
            forms[lang] = info.placeholders
            if info.plural:
                assert info.forms == catalogs.plural_forms_required(lang), f"{key} ({lang}) needs every plural form"
        assert forms["zh"] == forms["ru"], key


def test_buyers_are_addressed_politely(catalogs):
    for key in (k for k in catalogs.ids("ru") if k.startswith("handoff.") and not k.startswith("handoff.action.")):
        ru = catalogs.text(key, "ru")
        zh = catalogs.text(key, "zh")
        if key == "handoff.console_notice":
            continue
        assert "ты " not in ru.lower() and "тебе" not in ru.lower(), key
        assert "你" not in zh, key


# ---- records ----------------------------------------------------------------------------------

async def test_records_enqueue_is_idempotent(tmp_path):
    """(The whole contract: tests/test_handoff_records_contract.py.)"""
    r = SqliteHandoffRecords(tmp_path / "h.sqlite3")
    first = await r.enqueue("b:1:10", "1", TO_TOPIC, "copy", {}, 1.0, src_chat=1, src_message_id=10)
    assert first is not None
    assert await r.enqueue("b:1:10", "1", TO_TOPIC, "copy", {}, 2.0, src_chat=1, src_message_id=10) is None
    assert [x.status for x in await r.relays()] == [PENDING]
    assert await r.claim(first) and not await r.claim(first), "a relay is claimed once"
    assert await r.recover() == 1
    await r.mark_sent(first, -100, 55, 3.0)
    sent = await r.relay("b:1:10")
    assert sent is not None and sent.status == SENT and sent.dest_message_id == 55
    await r.close()


async def test_wiring_without_an_agents_group_is_no_handoff(app, settings):
    from bot.conversation.ports import NoHandoff
    from bot.handoff.service import TelegramHandoff
    from bot.handoff.wiring import handoff_for

    assert isinstance(handoff_for(app, settings), NoHandoff)
    settings.agents_chat_id = -100123
    made = handoff_for(app, settings)
    assert isinstance(made, TelegramHandoff)
    await made.records.close()
