"""Understanding what buyers type (issue 11): the held-out split, every flow's examples, typed
answers at buttons, ways out of questions, language switching, and no input that raises."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.engine.content import Content, load_checked
from bot.engine.effects import SetLanguage
from bot.engine.events import Media, Text
from bot.engine.understanding import (
    NONE,
    Understanding,
    escape,
    language_asked,
    mask_digits,
    normalize,
    ordinal,
    pick,
    translit,
)
from bot.operators import nlu
from bot.settings import ROOT
from tests.conftest import ChatDriver

# Floors a little under the figures measured (`ozonbot nlu eval --cv`, bench/nlu.py print them).
# Targets of issue 11: >= 95% per language, <= 5% off-topic routed, >= 95% typed answers.
# held-out (80 + 80): ru 96.2%, zh 98.8%, off-topic 5.0% (1 of 20).
HELDOUT_FLOOR = {"ru": 0.95, "zh": 0.97}
OFF_TOPIC_CEILING = 0.05
TYPED_FLOOR = 0.95
# the fresh slice (flows/nlu/fresh.yaml, 75 + 75, written before the tuning that followed it):
# ru 92.0%, zh 96.0%, off-topic 0 of 12; the honest check, below the target in ru
FRESH_FLOOR = {"ru": 0.90, "zh": 0.94}
FRESH_OFF_TOPIC_CEILING = 0.09
# the second fresh slice (flows/nlu/fresh2.yaml, 62 ru + 40 zh + 10 off-topic, heavy on typos, Latin
# letters and mixed scripts, written before the tuning of Dec 2's second session): ru 100% (98.4%
# before), zh 97.5% (the same), off-topic 2 of 10 (1 before)
FRESH2_FLOOR = {"ru": 0.96, "zh": 0.95}
FRESH2_OFF_TOPIC_CEILING = 0.2
# cross-validation on the flows' own examples (5-fold x3): as written ru 95.9%, zh 96.4%, off-topic
# 4.3%; one shuffle, one random typo per Russian message ru 92.4%; typed in Latin letters ru 93.9%
CV_FLOOR = {"ru": 0.95, "zh": 0.95}
CV_TYPO_FLOOR_RU = 0.90
CV_LATIN_FLOOR_RU = 0.92
CV_OFF_TOPIC_CEILING = 0.07


@pytest.fixture(scope="module")
def content():
    return Content.of(*load_checked(ROOT / "flows", ROOT / "locales"))


def test_heldout_split_accuracy_per_language(content):
    heldout = nlu.load_heldout(ROOT / "flows")
    e = nlu.evaluate(content.flows, heldout)
    assert set(e.counts) == {"ru", "zh"} and min(e.counts.values()) >= 70
    for lang, floor in HELDOUT_FLOOR.items():
        assert e.accuracy[lang] >= floor, (lang, e.accuracy[lang], [m for m in e.misses if m[0] == lang])
    assert e.off_topic_routed <= OFF_TOPIC_CEILING, [m for m in e.misses if m[1] == "none"]


def test_fresh_heldout_slice(content):
    heldout = nlu.load_heldout(ROOT / "flows", nlu.FRESH)
    e = nlu.evaluate(content.flows, heldout)
    assert set(e.counts) == {"ru", "zh"} and min(e.counts.values()) >= 60
    for lang, floor in FRESH_FLOOR.items():
        assert e.accuracy[lang] >= floor, (lang, e.accuracy[lang], [m for m in e.misses if m[0] == lang])
    assert e.off_topic_routed <= FRESH_OFF_TOPIC_CEILING, [m for m in e.misses if m[1] == "none"]


def test_fresh2_heldout_slice(content):
    heldout = nlu.load_heldout(ROOT / "flows", nlu.FRESH2)
    e = nlu.evaluate(content.flows, heldout)
    assert set(e.counts) == {"ru", "zh"} and min(e.counts.values()) >= 40 and e.off_topic_count >= 10
    for lang, floor in FRESH2_FLOOR.items():
        assert e.accuracy[lang] >= floor, (lang, e.accuracy[lang], [m for m in e.misses if m[0] == lang])
    assert e.off_topic_routed <= FRESH2_OFF_TOPIC_CEILING, [m for m in e.misses if m[1] == "none"]


def test_cross_validated_on_the_examples(content):
    """What the matcher is tuned on: each example routed by a model trained without it."""
    cv = nlu.cross_validate(content.flows)
    for lang, floor in CV_FLOOR.items():
        assert cv.accuracy[lang] >= floor, cv
    assert cv.off_topic_routed <= CV_OFF_TOPIC_CEILING, cv
    assert nlu.cross_validate(content.flows, typo=True, repeats=1).accuracy["ru"] >= CV_TYPO_FLOOR_RU
    assert nlu.cross_validate(content.flows, latin=True, repeats=1).accuracy["ru"] >= CV_LATIN_FLOOR_RU


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold().replace("ё", "е")))


def test_heldout_is_never_trained_on(content):
    trained = {_words(t) for f in content.flows.flows.values() for ts in f.triggers.examples.values() for t in ts}
    heldout = [nlu.load_heldout(ROOT / "flows", path) for path in nlu.HELDOUT_SETS.values()]
    leaked = [t for h in heldout for by in h.values() for ts in by.values() for t in ts if _words(t) in trained]
    assert not leaked, f"held-out messages copied into the flows' examples: {leaked}"


def test_corpus_size_and_every_flow_has_examples_in_both_languages(content):
    total = 0
    for f in content.flows.flows.values():
        if f.triggers.keywords or f.id == "not_understood":
            assert set(f.triggers.examples) >= {"zh", "ru"}, f.id
            assert all(len(ts) >= 8 for ts in f.triggers.examples.values()), f.id
        total += sum(len(ts) for ts in f.triggers.examples.values())
    heldout = sum(len(ts) for by in nlu.load_heldout(ROOT / "flows").values() for ts in by.values())
    assert total + heldout >= 400


def test_every_flow_example_routes_to_its_flow(content):
    wrong = []
    for f in content.flows.flows.values():
        want = None if f.id == "not_understood" else f.id
        for lang, texts in f.triggers.examples.items():
            for text in texts:
                got = content.flows.route(text).flow
                if got != want:
                    wrong.append((f.id, lang, text, got))
    assert not wrong


def test_typed_answers_at_buttons(content):
    rate, misses = nlu.evaluate_typed(content, nlu.load_typed_answers(ROOT / "flows"))
    assert rate >= TYPED_FLOOR, misses


@pytest.mark.parametrize("text,flow", [
    ("gde moy zakaz", "order_status"), ("hochu vernut tovar", "request_return"),
    ("здравствуйте! хочу отменить заказ", "cancel_order"), ("你好，我要退货", "request_return"),
    ("привет", "main_menu"), ("您好", "main_menu"), ("ГДЕ МОЙ ЗАКАЗЗЗЗ 😡😡", "order_status"),
    ("почему отменили мой заказ 57195475-0050", "why_cancelled"), ("转人工", "talk_to_agent"),
    ("деньги списали а заказа нет", "no_order_number"), ("订单超时了", "overdue_order"),
])
def test_routing_of_typical_messages(content, text, flow):
    assert content.flows.route(text).flow == flow


@pytest.mark.parametrize("text", ["какая погода завтра", "расскажи анекдот", "今天天气怎么样", "asdf"])
def test_off_topic_is_not_understood_with_suggestions_only_when_close(content, text):
    r = content.flows.route(text)
    assert r.flow is None and len(r.suggestions) <= 3


def test_a_greeting_never_swallows_the_question(content):
    for text, flow in [("Добрый день! подскажите где моя посылка", "order_status"),
                       ("您好 请问怎么取消订单", "cancel_order"), ("privet, pochemu otmenili zakaz", "why_cancelled")]:
        r = content.flows.route(text)
        assert r.flow == flow and r.greeting, (text, r)


def test_normalisation_and_transliteration():
    assert normalize("Ｇｄｅ  МОЁЁЁ!!! 😀 57195475-0050") == "где мое #"
    assert translit("zakaz") == "заказ" and translit("moy") == "мой" and translit("shchi") == "щи"
    assert mask_digits("заказ 57195475-0050-3") == "заказ 0000-0000-0"


def test_latin_letter_russian_as_buyers_type_it():
    """Apostrophes as ь, je/jo as же/жо, -yi/-iy endings and й after a vowel, ts before a consonant."""
    assert normalize("den'gi vernite, otpravljat' ne nado") == "деньги верните отправлять не надо"
    assert normalize("status 'ozhidaet otgruzki'") == "статус ожидает отгрузки"  # quotes, not ь
    assert normalize("mojet doljen moi kakoi kitaiskiy zdravstvuite") == "может должен мой какой китайский здравствуйте"
    assert normalize("v istorii novyi otsledit otkazatsya") == "в истории новый отследит отказатся"
    assert normalize("зaкaз нe пришeл") == "заказ не пришел"  # Latin look-alikes inside Cyrillic words


def test_typos_and_loose_spelling_are_repaired_to_the_examples_words():
    model = Understanding({"a": {"ru": ["хочу отменить заказ", "отправку ускорьте"]}, NONE: {"ru": ["погода"]}})
    assert model.repair("хочу атменит зааз") == "хочу отменить заказ"  # loose spelling, a letter missing
    assert model.repair("отпарвку") == "отправку"  # two letters swapped
    assert model.repair("заказы") == "заказы"  # a form of a known word: left as it is
    assert model.repair("закаш") == "закаш"  # a wrong letter in a short word, not a keyboard neighbour
    assert model.repair("закаж") == "заказ"  # ж is under з
    assert model.repair("отменитт") == "отменить"  # a doubled letter
    assert model.repair("pfrfp") == "pfrfp"  # Latin: not a Russian word, nothing to repair


@pytest.mark.parametrize("text,flow", [
    ("ult vjq pfrfp", "order_status"),  # "где мой заказ" with the English layout on
    ("jnvtybnm pfrfp", "cancel_order"), ("zakaz ne prishel", "order_status"), ("заказ ne prishel", "order_status"),
    ("kho4u pojalovat'sja na prodavca", "talk_to_agent"), ("хочу вернуть товр он сломан", "request_return"),
])
def test_wrong_layout_latin_and_typos_route(content, text, flow):
    assert content.flows.route(text).flow == flow


@pytest.mark.parametrize("text,idx", [("первый", 0), ("второе", 1), ("последний", 3), ("第二个", 1), ("最后一个", 3),
                                      ("3", 2), ("3й", 2), ("第1个", 0), ("пятница", None), ("пятый", None)])
def test_ordinals(text, idx):
    assert ordinal(text, 4) == idx


def test_pick_by_label_part_synonym_typo_both_languages():
    options = [["Подожду подтверждения", "我再等等"], ["Оплата не прошла", "付款没有成功"],
               ["Связаться с оператором", "联系人工客服"]]
    assert pick("подожду", options) == 0
    assert pick("оплата не прошла", options) == 1
    assert pick("опреатор", options) == 2  # a typo
    assert pick("人工客服", options) == 2
    assert pick("付款没有成功啊", options) == 1
    assert pick("какая погода", options) is None


def test_ways_out_and_language_requests():
    assert escape("у меня нет номера") == "no_number" and escape("不知道订单号") == "no_number"
    assert escape("позовите оператора") == "agent" and escape("转人工") == "agent"
    assert escape("меню") == "menu" and escape("57195475-0050") is None
    assert language_asked("можно по-китайски?") == "zh" and language_asked("说俄语") == "ru"
    assert language_asked("я не понимаю по-русски") == "zh" and language_asked("po-russki pozhaluysta") == "ru"
    assert language_asked("где мой заказ") is None


@pytest.mark.parametrize("first,other,msg", [("ru", "zh", "我的订单到哪了"), ("zh", "ru", "где мой заказ")])
async def test_two_messages_in_the_other_script_switch_the_language(app, first, other, msg):
    chat = ChatDriver(app, f"sw-{first}", first)
    await chat.send("/start")
    await chat.send(msg)
    assert (await app.store.load_state(f"sw-{first}")).lang == first  # one message: not yet
    await chat.send(msg)
    assert (await app.store.load_state(f"sw-{first}")).lang == other  # two in a row: switched


async def test_language_in_words_is_explicit_and_script_does_not_undo_it(app):
    chat = ChatDriver(app, "words", "ru")
    await chat.send("/start")
    await chat.send("можно по-китайски?")
    state = await app.store.load_state("words")
    assert state.lang == "zh" and state.lang_explicit
    await chat.send("где мой заказ")
    await chat.send("где мой заказ")
    assert (await app.store.load_state("words")).lang == "zh"  # asked in words: the script does not undo it


async def test_media_in_a_return_conversation_is_kept_as_evidence(app):
    chat = ChatDriver(app, "ev", "ru")
    await chat.send("хочу вернуть товар")
    reply = await app.handle("ev", Media("photo", "file-1", 1000, "image/jpeg"), chat.buyer)
    texts = " ".join(m.text for m in reply.outgoing)
    assert "доказательство" in texts
    state = await app.store.load_state("ev")
    assert state.vars["evidence"][0]["file_id"] == "file-1"


async def test_no_order_number_at_the_number_question_leads_to_payment_guidance(app):
    chat = ChatDriver(app, "nonum", "ru")
    await chat.send("где мой заказ")
    await chat.send("номера нет, деньги списали")
    state = await app.store.load_state("nonum")
    assert state.at.flow == "no_order_number"


async def test_did_you_mean_buttons_start_the_flow(app):
    chat = ChatDriver(app, "dym", "ru")
    await chat.send("вопрос по заказу")
    assert "Может быть" in chat.text
    await chat.send("первое")
    state = await app.store.load_state("dym")
    assert state.at is not None and state.at.flow != "main_menu"


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_no_input_raises(content, text):
    r = content.flows.route(text)
    assert r.flow is None or r.flow in content.flows
    pick(text, [["Да", "是"], ["Нет", "不"]])
    ordinal(text, 3)
    escape(text)
    language_asked(text)
    mask_digits(text)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=80), min_size=1, max_size=4))
async def test_no_conversation_input_raises(app, texts):
    chat = ChatDriver(app, "prop", "ru")
    for t in texts:
        reply = await app.handle("prop", Text(t), chat.buyer)
        assert reply is not None
    assert SetLanguage  # imported for the effect type the engine emits


def test_stats_list_not_understood_texts_masked_most_frequent_first():
    from bot.operators.stats import compute, format_html, format_text

    events = [("c1", "not_understood", {"count": 1, "text": "где заказ 12345678"}, 1.0),
              ("c2", "not_understood", {"count": 1, "text": "где заказ 87654321"}, 2.0),
              ("c3", "nlu_low_confidence", {"text": "хм 1", "flow": "order_status", "confidence": 0.3}, 3.0),
              ("c4", "not_understood", {"count": 1}, 4.0)]
    stats = compute(events)
    assert stats.unclear == [("где заказ 0000", 2, "not understood"), ("хм 0", 1, "low confidence")]
    text = format_text(stats)
    assert "2x" in text and "где заказ 0000" in text and "12345678" not in text
    html = format_html(stats)
    assert "Not understood" in html and "87654321" not in html


def test_an_options_own_examples_pick_it(content):
    from bot.engine.nodes.choice import match_option

    options = list(content.flows["cancel_order"].nodes["pick_reason"].options)
    assert match_option(content.labels, options, "надоело ждать").id == "slow"
    assert match_option(content.labels, options, "等不及了").id == "slow"


LOOKUP_FLOWS = {"order_status": "order", "cancel_order": "cancel", "why_cancelled": "why", "overdue_order": "late",
                "request_return": "return", "refuse_delivery": "refuse", "check_payment": "payment"}
WAYS_OUT = {
    "ru": [("позовите оператора пожалуйста", "handoff"), ("в главное меню", "main_menu"),
           ("у меня нет номера заказа", "no_order_number")],
    "zh": [("转人工客服", "handoff"), ("返回菜单", "main_menu"), ("我没有订单号", "no_order_number")],
}


@pytest.mark.parametrize("lang", ["ru", "zh"])
@pytest.mark.parametrize("flow", sorted(LOOKUP_FLOWS))
async def test_every_order_number_question_has_ways_out(app, flow, lang):
    """Issue 11, item 3: at each flow's order number question, a person, the menu and "I don't
    have the number" are reached by words, never by asking for the number again."""
    for i, (text, want) in enumerate(WAYS_OUT[lang]):
        chat = ChatDriver(app, f"out-{flow}-{lang}-{i}", lang)
        await chat.send(f"/{LOOKUP_FLOWS[flow]}")
        state = await app.store.load_state(chat.chat_id)
        assert state.at is not None and (state.at.flow, state.at.node) == (flow, "find"), state.at
        await chat.send(text)
        state = await app.store.load_state(chat.chat_id)
        if want == "handoff":
            assert "handoff" in chat.kinds, (flow, lang, text, chat.kinds)
        else:
            assert state.at is not None and state.at.flow == want, (flow, lang, text, state.at)


@pytest.mark.parametrize("lang,text,want", [("ru", "хочу вернуть товар, он сломан", "request_return"),
                                            ("zh", "我要退货，东西坏了", "request_return"),
                                            ("ru", "почему мой заказ отменили?", "why_cancelled")])
async def test_another_topic_at_the_order_number_question_starts_it(app, lang, text, want):
    chat = ChatDriver(app, f"topic-{lang}-{want}", lang)
    await chat.send("/order")
    await chat.send(text)
    state = await app.store.load_state(chat.chat_id)
    assert state.at is not None and state.at.flow == want, state.at


@pytest.mark.parametrize("start,kind", [("/refuse", "video"), ("/return", "photo"), ("/return", "video")])
async def test_media_anywhere_in_a_return_or_refusal_is_kept_as_evidence(app, start, kind):
    chat = ChatDriver(app, f"ev-{start}-{kind}", "zh")
    await chat.send(start)  # at the order number question, before anything else
    reply = await app.handle(chat.chat_id, Media(kind, f"{kind}-1", 1000, f"{kind}/x"), chat.buyer)
    assert reply is not None
    state = await app.store.load_state(chat.chat_id)
    assert [e["file_id"] for e in state.vars["evidence"]] == [f"{kind}-1"]
    assert state.at is not None and state.at.node == "find"  # the question is asked again, nothing lost


def test_every_button_of_every_choice_step_is_picked_by_its_label_typed_in_either_language(content):
    """Issue 11, item 3: typed answers at every waiting step with buttons: each button's label,
    typed in lower case without emoji in either language, picks that button."""
    from bot.engine.nodes.choice import match_option

    wrong, checked = [], 0
    for flow in content.flows.flows.values():
        for node_id, node in flow.nodes.items():
            options = list(getattr(node, "options", None) or [])
            for o in options:
                if o.label.params:
                    continue
                for lang in ("zh", "ru"):
                    label = content.catalogs.template(o.label.msg, lang) or ""
                    typed = re.sub(r"[^\w\s-]", "", label).strip().lower()
                    same = [x for x in options if content.catalogs.template(x.label.msg, lang) == label]
                    if not typed or len(same) > 1:
                        continue
                    got = match_option(content.labels, options, typed)
                    checked += 1
                    if got is None or got.id != o.id:
                        wrong.append((flow.id, node_id, lang, typed, o.id, got.id if got else None))
    assert checked >= 100 and not wrong, wrong
