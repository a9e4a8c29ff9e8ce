"""Nothing lost, nothing twice: deleted topics, failed relays, restarts, duplicates, start-up checks,
working hours, re-announcing unanswered handoffs, topic rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import App
from bot.handoff.figures import containment_figures
from bot.handoff.records import CLOSED, FAILED, LEFT, PENDING, SENT
from bot.handoff.service import HandoffSetupError, TelegramHandoff
from bot.settings import Settings
from tests.fake_forum import FakeForum
from tests.test_handoff_roundtrip import AGENT, BUYER, Harness, forum, h, handoff_bot, start_handoff  # noqa: F401
from tests.test_telegram_harness import tg_settings


async def test_deleted_topic_is_recreated_with_the_card(h: Harness):
    await start_handoff(h)
    old = await h.thread()
    h.fake.delete_topic(old)
    await h.buyer_says("Вы тут?")

    async def recreated() -> bool:
        return await h.thread() != old and "Вы тут?" in await h.topic_texts()
    await h.until(recreated)
    texts = await h.topic_texts()
    assert "Прежняя тема была удалена" in texts[0] and "Новое обращение" in texts[0]
    assert texts.index("Вы тут?") > 0, "the card first, then the message"
    assert len(h.fake.topics) == 2
    # the agents answer from the new topic
    await h.agent_says("Да, я здесь")
    assert h.buyer_texts()[-1] == "Да, я здесь"


async def test_closed_topic_is_reopened(h: Harness):
    await start_handoff(h)
    h.fake.close_topic(await h.thread())
    await h.buyer_says("алло")
    await h.until_topic(lambda texts: "алло" in texts)
    assert not h.fake.topics[await h.thread()]["closed"] and len(h.fake.topics) == 1


async def test_restart_with_relays_pending_in_the_outbox(forum: FakeForum, app: App, settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock) as h:
        await start_handoff(h)
        forum.fail("copyMessage", 500, times=1)
        await h.buyer_says("первое")
        await h.buyer_says("второе")  # waits behind the first: order is kept
        relays = [r for r in await h.handoff.records.relays(str(BUYER)) if r.op == "copy"]
        assert [r.status for r in relays] == [PENDING, PENDING]
        assert relays[0].attempts == 1 and "Internal Server Error" in relays[0].error
        # a periodic pass before the back-off delay sends nothing
        assert await h.handoff.flush_outbox() == 0
        thread = await h.thread()
        # the process is killed while one relay is mid-send
        await h.handoff.records.claim(relays[1].id)
    async with handoff_bot(forum, app, settings, clock) as h2:  # start-up recovers and flushes
        texts = await h2.topic_texts()
        assert texts[-2:] == ["первое", "второе"]
        assert await h2.thread() == thread
        assert {r.status for r in await h2.handoff.records.relays(str(BUYER))} == {SENT}
        assert await h2.handoff.is_active(str(BUYER)), "the handoff survives the restart"
        await h2.agent_says("Мы на месте")
        assert h2.buyer_texts()[-1] == "Мы на месте"
        assert texts.count("первое") == 1


async def test_retry_after_backoff_on_a_later_pass(h: Harness, clock):
    await start_handoff(h)
    h.fake.fail("copyMessage", 502, times=1)
    await h.buyer_says("ретрай")
    assert "ретрай" not in await h.topic_texts()
    clock.current += timedelta(minutes=5)
    assert await h.handoff.flush_outbox() == 1
    assert (await h.topic_texts()).count("ретрай") == 1


async def test_duplicate_updates_are_relayed_once(h: Harness):
    await start_handoff(h)
    message = await h.buyer_says("один раз")
    await h.until_topic(lambda texts: "один раз" in texts)
    uid = h.fake.push({"message": message})  # Telegram delivers the same message again
    await h.bot.processed(uid)
    assert (await h.topic_texts()).count("один раз") == 1
    agent_msg = await h.agent_says("ответ")
    uid = h.fake.push({"message": agent_msg})
    await h.settle()
    assert h.buyer_texts().count("ответ") == 1
    relays = await h.handoff.records.relays(str(BUYER))
    assert len(relays) == len({r.key for r in relays})


async def test_buyer_who_blocked_the_bot_is_reported_to_agents(h: Harness):
    await start_handoff(h)
    h.fake.fail("copyMessage", 403, times=1, when=lambda p: p.get("chat_id") == BUYER)
    h.fake.agent_text(AGENT, await h.thread(), "Вы здесь?")
    await h.until_topic(lambda texts: any("не доставлено" in t for t in texts))
    failed = [r for r in await h.handoff.records.relays(str(BUYER)) if r.status == FAILED]
    assert len(failed) == 1 and "blocked" in failed[0].error


async def test_permissions_checked_at_start_up(forum: FakeForum, app: App, settings: Settings, clock):
    settings.agents_chat_id = forum.group_id
    tg_settings(settings, forum)
    from telegram import Bot

    async with Bot(settings.telegram_bot_token.get_secret_value(), base_url=forum.api_base) as bot:
        handoff = TelegramHandoff(app, bot, settings, clock=clock)
        assert (await handoff.check_permissions())["group"] == "Agents"
        forum.bot_rights["can_manage_topics"] = False
        with pytest.raises(HandoffSetupError, match="without the 'Manage topics' right"):
            await handoff.startup(background=False)
        forum.bot_status = "member"
        with pytest.raises(HandoffSetupError, match=r"not an administrator .*status: member"):
            await handoff.check_permissions()
        forum.is_forum = False
        with pytest.raises(HandoffSetupError, match="enable Topics") as exc:
            await handoff.check_permissions()
        assert "not an administrator" in str(exc.value), "every problem is listed at once"
        await handoff.records.close()
    settings.agents_chat_id = None
    with pytest.raises(HandoffSetupError, match="AGENTS_CHAT_ID"):
        TelegramHandoff(app, None, settings)


async def test_outside_working_hours_the_buyer_is_told_when(forum: FakeForum, app: App, settings: Settings, clock):
    clock.current = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # Saturday
    async with handoff_bot(forum, app, settings, clock, handoff_hours="09:00-18:00", handoff_days="mon-fri",
                           handoff_reply_timeout_minutes=10) as h:
        await start_handoff(h)
        assert any("операторы не работают" in t and "23 ноября, 09:00" in t for t in h.buyer_texts())
        clock.current += timedelta(hours=20)
        assert await h.handoff.check_unanswered() == [], "nobody to alert outside working hours"
        clock.current = datetime(2026, 11, 23, 6, 5, tzinfo=UTC)  # Monday 09:05 Moscow
        assert await h.handoff.check_unanswered() == []
        clock.current = datetime(2026, 11, 23, 6, 11, tzinfo=UTC)  # 11 minutes into the shift
        assert len(await h.handoff.check_unanswered()) == 1


async def test_inside_working_hours_the_buyer_gets_a_place_in_the_queue(h: Harness):
    await start_handoff(h, chat_id=901)
    await start_handoff(h, chat_id=902)
    await start_handoff(h, chat_id=903)
    assert any("Вы — первый" in t for t in h.buyer_texts(901))
    assert any("Перед Вами 1 человек." in t for t in h.buyer_texts(902))
    assert any("Перед Вами 2 человека." in t for t in h.buyer_texts(903))


async def test_unanswered_handoff_is_reannounced_with_on_duty_agents(forum: FakeForum, app: App,
                                                                       settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock, handoff_reply_timeout_minutes=10,
                           handoff_on_duty="lena_support, @oleg") as h:
        await start_handoff(h)
        clock.current += timedelta(minutes=5)
        assert await h.handoff.check_unanswered() == []
        clock.current += timedelta(minutes=6)
        assert len(await h.handoff.check_unanswered()) == 1
        alert = (await h.topic_texts())[-1]
        assert "ждёт ответа уже 11 минут" in alert and "@lena_support @oleg" in alert
        clock.current += timedelta(minutes=4)
        assert await h.handoff.check_unanswered() == [], "not again before another timeout"
        clock.current += timedelta(minutes=7)
        assert len(await h.handoff.check_unanswered()) == 1
        await h.agent_says("Я тут")
        clock.current += timedelta(hours=1)
        assert await h.handoff.check_unanswered() == [], "answered handoffs are not re-announced"


async def test_periodic_job_runs_the_checks(forum: FakeForum, app: App, settings: Settings, clock):
    import asyncio

    async with handoff_bot(forum, app, settings, clock, handoff_reply_timeout_minutes=1) as h:
        await start_handoff(h)
        clock.current += timedelta(minutes=2)
        h.handoff.start_background(interval=0.05)
        await h.until_topic(lambda texts: any("⏰" in t for t in texts), timeout=5)
        await h.handoff.shutdown()
        assert h.handoff.lifecycle._task is None
        await asyncio.sleep(0)


async def test_topic_creation_is_rate_limited(forum: FakeForum, app: App, settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock, handoff_topics_per_hour=1) as h:
        await start_handoff(h, chat_id=911)
        await h.buyer_says("/agent", chat_id=912)
        await h.until(lambda: any("операторы очень загружены" in t for t in h.buyer_texts(912)))
        assert await h.handoff.records.topic("912") is None and len(forum.topics) == 1
        assert not await h.handoff.is_active("912"), "the bot keeps helping a buyer it could not hand over"
        await h.until(lambda: any("лимит новых тем" in (m.get("text") or "") and "912" in m["text"]
                                  for m in forum.chat_messages(forum.group_id)))


async def test_a_buyer_cannot_flood_topics(forum: FakeForum, app: App, settings: Settings, clock):
    async with handoff_bot(forum, app, settings, clock, handoff_topics_per_buyer_per_day=2) as h:
        await start_handoff(h)
        for _ in range(3):  # an agent deletes the topic each time; the buyer writes again
            forum.delete_topic(await h.thread())
            await h.buyer_says("снова я")
        assert len(forum.topics) == 2
        pending = [r for r in await h.handoff.records.relays(str(BUYER)) if r.status == PENDING]
        assert pending, "what could not be delivered waits in the outbox"


async def test_containment_figures(h: Harness, clock):
    await h.buyer_says("/start")
    await h.buyer_says("/order", chat_id=931)
    await start_handoff(h)
    clock.current += timedelta(minutes=3)
    await h.agent_says("Здравствуйте")
    clock.current += timedelta(minutes=7)
    await h.agent_command("/close")
    prompt = [m for m in h.fake.chat_messages(BUYER) if m.get("reply_markup")][-1]
    h.fake.press(BUYER, prompt["reply_markup"]["inline_keyboard"][0][3]["callback_data"],
                 message_id=prompt["message_id"])
    await h.until_rated(4)
    figures = await containment_figures(h.app.store, h.handoff.records)
    assert figures.handoffs == 1 and figures.handoffs_by_reason == {"buyer_request": 1}
    assert figures.handoffs_by_flow == {"talk_to_agent": 1}
    assert figures.first_reply.median_seconds == 180 and figures.time_to_close.median_seconds == 600
    assert figures.ratings.average == 4 and figures.ratings.by_score == {4: 1}
    assert figures.handoffs_by_outcome == {"closed": 1}
    assert figures.conversations >= 1 and figures.contained == figures.conversations - 1
    assert figures.model_dump_json()


async def test_topic_creation_failing_at_handoff_time_is_retried(forum: FakeForum, app: App, settings: Settings, clock):
    forum.fail("createForumTopic", 502, times=1)
    async with handoff_bot(forum, app, settings, clock) as h:
        await h.buyer_says("/agent")  # the card's relay creates the topic on its first delivery
        assert await h.handoff.is_active(str(BUYER))
        await h.buyer_says("жду")
        await h.until_topic(lambda texts: "жду" in texts)
        texts = await h.topic_texts()
        assert "Buyer4242" in forum.topics[await h.thread()]["name"]
        assert len(forum.topics) == 1 and texts[0].startswith("🆘") and texts[1:] == ["жду"]
        assert sum("Новое обращение" in t for t in texts) == 1, "the card once, not a 'recreated' copy"


async def test_many_buyers_at_once_each_in_order_exactly_once(h: Harness):
    import asyncio

    buyers = [951, 952, 953, 954]
    for chat in buyers:
        await start_handoff(h, chat_id=chat)
    uids = [h.fake.text(chat, f"{chat}: сообщение {i}") for i in range(6) for chat in buyers]
    await asyncio.gather(*(h.bot.processed(uid) for uid in uids))
    for chat in buyers:
        await h.until_topic(lambda texts: len(texts) >= 7, chat)
        assert (await h.topic_texts(chat))[1:] == [f"{chat}: сообщение {i}" for i in range(6)]


# ---- a /bot or /close cut short by a kill is replayed from the inbox at start-up; the replay must still
# tell the other side (a kill between two writes is stood in for by the second write failing once)

class Killed(Exception):
    pass


def kill_at_first(harness: Harness, method: str) -> list[str]:
    """The records' `method` raises once (the process "dies" there); returns the keys it saw."""
    records = harness.handoff.records
    real = getattr(records, method)
    seen: list[str] = []

    async def once(*args: Any, **kwargs: Any) -> Any:
        seen.append(str(args[0]) if args else "")
        if len(seen) == 1:
            raise Killed(method)
        return await real(*args, **kwargs)

    setattr(records, method, once)
    return seen


@pytest.mark.parametrize("dies_at", ["enqueue", "end_session"])
async def test_a_replayed_bot_command_still_tells_the_agents(h: Harness, dies_at: str):
    await start_handoff(h)
    kill_at_first(h, dies_at)
    with pytest.raises(Killed):
        await h.handoff.sessions.buyer_left(str(BUYER))
    await h.handoff.sessions.buyer_left(str(BUYER))  # the /bot replayed at start-up
    assert (await h.handoff.records.last_session(str(BUYER))).status == LEFT
    await h.until_topic(lambda texts: any("вышел из очереди" in t for t in texts))
    assert sum("вышел из очереди" in t for t in await h.topic_texts()) == 1


@pytest.mark.parametrize("dies_at", ["enqueue", "end_session"])
async def test_a_replayed_close_still_tells_the_buyer(h: Harness, dies_at: str):
    await start_handoff(h)
    session = await h.handoff.records.open_session(str(BUYER))
    assert session is not None
    kill_at_first(h, dies_at)
    with pytest.raises(Killed):
        await h.handoff.sessions.close(str(BUYER), session, "Agent")
    await h.agent_command("/close", answers=1)  # the agent's /close replayed at start-up
    assert (await h.handoff.records.last_session(str(BUYER))).status == CLOSED
    await h.until(lambda: any("снова на связи" in (c.params.get("text") or "") for c in h.fake.sent(BUYER)))
    texts = [c.params.get("text") or "" for c in h.fake.sent(BUYER)]
    assert sum("снова на связи" in t for t in texts) == 1
    assert sum(bool(c.params.get("reply_markup")) and "⭐" in str(c.params["reply_markup"])
               for c in h.fake.sent(BUYER)) == 1, "one rating prompt"
