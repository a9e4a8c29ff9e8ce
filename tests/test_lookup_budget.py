"""Budgets, not waits (issue 13, item 3): a slow Seller API makes the buyer hear "we are checking"
within the budget, and the answer follows as its own message once the API answers, exactly as an
answer in time would have; the circuit breaker lets a probe through seconds after Ozon recovers.

Everything on loopback: the fake Seller API (tests/fake_ozon.py) hangs, then recovers; the real
app on SQLite; the conversation service through a recording channel, the terminal chat, and the
real PTB against the fake Bot API (tests/fake_telegram.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import App, build_app, default_orders
from bot.console import ConsoleChat
from bot.conversation.budget import Budget
from bot.conversation.io import Inbound, Reply
from bot.conversation.service import Conversation
from bot.engine.events import Buyer, Text
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.numbers import OrderRef
from bot.settings import Settings
from bot.store.sqlite import SqliteStore
from tests.fake_ozon import FBS_GET, FakeOzon, provider_for, sample, server_error, slow
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_harness import running_bot

POSTING = "57195475-0050-3"
ORDER = "57195475-0050"
BUDGET = 0.5  # seconds: short, so the tests are; the default is LOOKUP_BUDGET_SECONDS=5
TIMEOUT = 20.0
HANG = slow(60)  # the API accepts the request and says nothing (each request until the client gives up)


class RecordingChannel:
    """A channel that records, with the time, everything the buyer would see."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []  # (monotonic time, kind, text)

    async def deliver(self, conversation: str, reply: Reply) -> None:
        for m in reply.outgoing:
            self.seen.append((time.monotonic(), "reply", m.text))

    async def send_text(self, conversation: str, text: str) -> None:
        self.seen.append((time.monotonic(), "text", text))

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        self.seen.append((time.monotonic(), "file", filename))

    async def working(self, conversation: str) -> None:
        self.seen.append((time.monotonic(), "working", ""))

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.seen]


@pytest.fixture
async def ozon() -> AsyncIterator[FakeOzon]:
    async with FakeOzon() as fake:
        fake.add(sample(POSTING))
        yield fake


def ozon_app(settings: Settings, catalogs, clock, fake: FakeOzon, **provider: Any) -> App:
    provider.setdefault("timeout", 0.4)
    provider.setdefault("sleep", asyncio.sleep)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.lookup_budget_seconds = BUDGET
    return build_app(settings, catalogs=catalogs, clock=clock, orders=provider_for(fake, **provider),
                     store=SqliteStore(settings.store_path))


def ask_phone(app: App, lang: str = "ru") -> str:
    return app.text("lookup.ask_phone", lang, {"order_number": ORDER})


async def recover_after(fake: FakeOzon, seconds: float) -> None:
    await asyncio.sleep(seconds)
    fake.fail_all(None)


# ---- the budget on its own -------------------------------------------------------------------

async def test_a_turn_within_its_budget_says_nothing_more():
    notes: list[str] = []

    async def on_late() -> None:
        notes.append("late")

    async def quick() -> str:
        await asyncio.sleep(0.05)
        return "answer"

    assert await Budget(0.5).run("c", quick(), on_late=on_late) == "answer"
    assert await Budget(0).run("c", quick(), on_late=on_late) == "answer"  # 0: no budget at all
    assert notes == []


async def test_past_its_budget_the_buyer_hears_once_and_sees_work_until_the_answer():
    notes: list[tuple[str, float]] = []
    budget = Budget(0.1, every=0.1)
    start = time.monotonic()

    async def on_late() -> None:
        notes.append(("late", time.monotonic() - start))

    async def working() -> None:
        notes.append(("working", time.monotonic() - start))

    async def slow_answer() -> str:
        await asyncio.sleep(0.55)
        assert budget.late("c")
        return "answer"

    assert await budget.run("c", slow_answer(), on_late=on_late, working=working) == "answer"
    assert not budget.late("c")
    assert notes[0][0] == "late" and 0.1 <= notes[0][1] < 0.3
    assert [n for n, _ in notes[1:]] == ["working"] * (len(notes) - 1) and 4 <= len(notes) - 1 <= 6


async def test_a_failing_notice_does_not_break_the_turn_and_cancelling_cancels_the_work():
    async def broken() -> None:
        raise RuntimeError("channel down")

    async def slow_answer() -> str:
        await asyncio.sleep(0.2)
        return "answer"

    assert await Budget(0.05).run("c", slow_answer(), on_late=broken, working=broken) == "answer"

    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()

    task = asyncio.ensure_future(Budget(0.05).run("c", forever(), on_late=broken))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    with pytest.raises(ValueError, match="must be >= 0 seconds"):
        Budget(-1)


# ---- the conversation service, the real app, the fake Seller API --------------------------------

async def test_hanging_api_buyer_hears_checking_within_budget_then_the_answer_as_a_follow_up(
        settings, catalogs, clock, ozon):
    app = ozon_app(settings, catalogs, clock, ozon)
    channel = RecordingChannel()
    conv = Conversation(app, channel, budget=app.settings.lookup_budget_seconds)
    buyer = Buyer(id="b-1", language_code="ru")
    ozon.fail_all(HANG)
    start = time.monotonic()
    recovery = asyncio.ensure_future(recover_after(ozon, 1.5))
    reply = await asyncio.wait_for(conv.handle(Inbound("b-1", buyer, Text(POSTING), "text", POSTING)), TIMEOUT)
    await recovery
    checking = [(t, text) for t, k, text in channel.seen if k == "text"]
    assert [text for _, text in checking] == [app.text("common.checking", "ru")]
    assert BUDGET <= checking[0][0] - start < BUDGET + 0.4  # within the budget, not after the API gave up
    assert "working" in channel.kinds()  # the channel showed that we work on it
    answers = [(t, text) for t, k, text in channel.seen if k == "reply"]
    assert [text for _, text in answers] == [ask_phone(app)]  # the flow went on: once, after "checking"
    assert answers[0][0] > checking[0][0] and answers[0][0] - start >= 1.5
    assert reply is not None and reply.outgoing[0].text == ask_phone(app)
    state = await app.store.load_state("b-1")  # saved as if the API had answered in time
    assert state is not None and state.at is not None and state.at.phase == "owner"
    assert state.vars["_pending"] == POSTING
    transcript = await app.store.transcript("b-1")
    assert [(e.direction, e.text) for e in transcript] == [("in", POSTING), ("out", ask_phone(app))]
    await app.close()


async def test_an_api_down_for_good_still_answers_with_the_polite_unavailable_flow(settings, catalogs, clock, ozon):
    app = ozon_app(settings, catalogs, clock, ozon, timeout=0.2, max_retries=2)
    channel = RecordingChannel()
    conv = Conversation(app, channel, budget=BUDGET)
    ozon.fail_all(HANG)
    await asyncio.wait_for(conv.handle(Inbound("b-2", Buyer(id="b-2", language_code="zh"), Text(POSTING), "text",
                                               POSTING)), TIMEOUT)
    assert channel.seen[0][1:] == ("text", app.text("common.checking", "zh"))
    replies = [text for _, k, text in channel.seen if k == "reply"]
    state = await app.store.load_state("b-2")
    assert replies and state is not None and "backend_unavailable:" in " ".join(state.path)
    await app.close()


async def test_terminal_chat_shows_checking_and_working_then_the_answer(settings, catalogs, clock, ozon):
    app = ozon_app(settings, catalogs, clock, ozon)
    out = io.StringIO()
    chat = ConsoleChat(app, user="t1", lang="ru", json_mode=True, out=out)
    ozon.fail_all(HANG)
    recovery = asyncio.ensure_future(recover_after(ozon, 1.2))
    await asyncio.wait_for(chat.send(POSTING), TIMEOUT)
    await recovery
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(m["kind"], m["text"]) for m in lines] == [
        ("say", app.text("common.checking", "ru")), ("working", ""), ("say", ask_phone(app))]
    out.truncate(0)
    out.seek(0)
    await asyncio.wait_for(chat.send("4321"), TIMEOUT)  # the flow goes on from the follow-up
    assert "4321" not in out.getvalue() and out.getvalue()
    state = await app.store.load_state(chat.chat_id)
    assert state is not None and ORDER in state.verified
    await app.close()


# ---- the real Telegram path ---------------------------------------------------------------------

async def test_telegram_typing_checking_answer_and_a_message_written_meanwhile(settings, catalogs, clock, ozon):
    app = ozon_app(settings, catalogs, clock, ozon)
    ozon.fail_all(HANG)
    async with FakeTelegram() as fake, running_bot(fake, app, settings) as bot:
        chat = 4242

        def texts() -> list[str]:
            return [c.params["text"] for c in fake.sent(chat)]

        start = time.monotonic()
        first = fake.text(chat, POSTING)
        await fake.wait_for(lambda: len(texts()) >= 1, TIMEOUT)
        assert time.monotonic() - start < BUDGET + 1.0
        assert texts() == [app.text("common.checking", "ru")]
        await fake.wait_method("sendChatAction", 1, TIMEOUT)
        assert fake.calls_of("sendChatAction", chat)[0].params["action"] == "typing"
        second = fake.text(chat, "12")  # the buyer writes while we check
        third = fake.text(chat, "123")
        await fake.wait_for(lambda: len(texts()) >= 2, TIMEOUT)
        assert texts()[1] == app.text("common.still_checking", "ru")  # once, at once, before the answer
        assert first not in bot.done
        ozon.fail_all(None)
        await bot.processed(third, TIMEOUT)
        assert second in bot.done and first in bot.done
        phone_format = app.text("lookup.phone_format", "ru")
        assert texts() == [app.text("common.checking", "ru"), app.text("common.still_checking", "ru"),
                           ask_phone(app), phone_format, phone_format]  # then the waiting ones, in order
        transcript = await app.store.transcript(str(chat))
        assert [e.text for e in transcript if e.direction == "in"] == [POSTING, "12", "123"]
        assert fake.unexpected == []
    await app.close()


# ---- the circuit breaker --------------------------------------------------------------------------

async def test_breaker_probes_during_a_5xx_burst_and_serves_within_seconds_after_it(ozon):
    provider = provider_for(ozon, sleep=asyncio.sleep, max_retries=0, timeout=0.5, breaker_threshold=3,
                            breaker_cooldown=0.2, breaker_max_cooldown=1.0)
    ozon.fail_all(server_error())
    for _ in range(3):
        with pytest.raises(OrderBackendUnavailable):
            await provider.find(OrderRef(ORDER, POSTING))
    assert provider.breaker.state == "open"
    for cooldown in (0.2, 0.4):  # each lookup now waits out the cool-down and is the one probe; it fails
        calls, start = ozon.count(), time.monotonic()
        with pytest.raises(OrderBackendUnavailable):
            await provider.find(OrderRef(ORDER, POSTING))
        assert cooldown <= time.monotonic() - start < cooldown + 0.5 and ozon.count() == calls + 1
        assert provider.breaker.cooldown == cooldown * 2  # a failed probe doubles the cool-down
    ozon.fail_all(None)  # Ozon is back
    recovered = time.monotonic()
    other = "57195475-0051-1"
    ozon.add(sample(other))
    # two buyers: one waits out the 0.8 s cool-down and probes, the other waits for the probe's outcome
    found = await asyncio.gather(provider.find(OrderRef(ORDER, POSTING)), provider.find(OrderRef(ORDER[:-1] + "1",
                                                                                                  other)))
    assert all(found) and time.monotonic() - recovered < 1.5  # seconds, not 30
    assert provider.breaker.state == "closed" and provider.breaker.cooldown == 0.2
    await provider.close()


async def test_a_lookup_meeting_an_open_breaker_waits_for_the_probe_instead_of_failing(ozon):
    provider = provider_for(ozon, sleep=asyncio.sleep, max_retries=3, breaker_threshold=2, breaker_cooldown=0.5)
    ozon.fail(FBS_GET, server_error(), server_error())
    start = time.monotonic()
    [order] = await asyncio.wait_for(provider.find(OrderRef(ORDER, POSTING)), TIMEOUT)
    # two failures opened the circuit; the next try waited out the cool-down and was the probe
    assert order.posting_number == POSTING and 0.5 <= time.monotonic() - start < 2.0
    assert provider.breaker.state == "closed"
    await provider.close()


# ---- settings ----------------------------------------------------------------------------------------

def test_the_seller_api_client_takes_its_timeout_retries_and_breaker_from_settings(settings):
    settings.order_provider = "ozon"
    settings.ozon_client_id = "1"
    settings.ozon_api_key = SecretStr("k")
    settings.ozon_timeout_seconds, settings.ozon_retries = 3.5, 2
    settings.ozon_breaker_failures, settings.ozon_breaker_cooldown_seconds = 7, 0.5
    settings.ozon_breaker_max_cooldown_seconds = 4.0
    provider = default_orders(settings)
    assert provider.client._timeout.total == 3.5  # type: ignore[attr-defined]
    assert provider.retry.attempts == 3  # type: ignore[attr-defined]
    breaker = provider.breaker  # type: ignore[attr-defined]
    assert (breaker.threshold, breaker.base_cooldown, breaker.max_cooldown) == (7, 0.5, 4.0)


def test_bad_budget_settings_are_one_line_each(tmp_path):
    from tests.test_cli_settings_errors import ozonbot

    done = ozonbot(tmp_path, "orders", "list", LOOKUP_BUDGET_SECONDS="-1", OZON_TIMEOUT_SECONDS="0",
                   OZON_RETRIES="many", OZON_BREAKER_COOLDOWN_SECONDS="soon")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "ozonbot: LOOKUP_BUDGET_SECONDS: must be greater than or equal to 0 (seconds; 0 turns it off); got '-1'",
        "ozonbot: OZON_TIMEOUT_SECONDS: must be greater than 0; got '0'",
        "ozonbot: OZON_RETRIES: must be an integer; got 'many'",
        "ozonbot: OZON_BREAKER_COOLDOWN_SECONDS: must be a number; got 'soon'",
    ]
