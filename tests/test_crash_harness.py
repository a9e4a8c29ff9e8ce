"""The crash harness (tests/crash_harness.py) itself, without a bot: what its buyers and agents do
when the bot is slow to answer, as it is on a loaded machine, and that it still reports a loss."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp import ClientSession

from tests.crash_harness import UNIQUE, Crowd, buyer_loop
from tests.fake_delivery import DeliveryForum
from tests.fake_telegram import TOKEN


async def call(session: ClientSession, fake: DeliveryForum, method: str, **params: Any) -> Any:
    async with session.post(f"{fake.api_base}{TOKEN}/{method}", json=params) as resp:
        body = await resp.json()
    assert body["ok"], body
    return body["result"]


async def test_agents_write_in_the_topic_the_bot_posts_in_not_in_an_orphan():
    """A kill right after createForumTopic leaves an empty topic the bot never learnt of; it opens
    another and posts the card there. Agents answer where the card is (the old harness picked the
    first topic by name: 48 agents' messages "lost" in one webhook run, relayed by nobody)."""
    async with DeliveryForum() as fake, ClientSession() as session:
        crowd = Crowd(fake, random.Random(1), [7001], [501], demo_orders=[])
        orphan = await call(session, fake, "createForumTopic", chat_id=fake.group_id, name="Buyer7001")
        assert crowd.thread_of(7001) is None  # an empty topic: no case an agent could see
        used = await call(session, fake, "createForumTopic", chat_id=fake.group_id, name="Buyer7001")
        await call(session, fake, "sendMessage", chat_id=fake.group_id, text="card",
                   message_thread_id=used["message_thread_id"])
        assert orphan["message_thread_id"] != used["message_thread_id"]
        assert crowd.thread_of(7001) == used["message_thread_id"]
        step = crowd.agent_says(501, 7001)
        assert step is not None
        report = crowd.check([])  # nobody relayed it: still a loss
        assert [v.step.n for v in report.lost] == [step.n]


async def test_a_buyer_whose_step_is_unanswered_sends_only_marks_and_the_loss_is_reported():
    """While an earlier step is unanswered (the bot is down or restarting), a buyer takes no step
    whose reply is told by order (a press, /agent, /bot): a reply owed to an earlier one would be
    given to it. Nothing answers here: every step is a mark, and every one is reported lost."""
    async with DeliveryForum() as fake, ClientSession() as session:
        crowd = Crowd(fake, random.Random(2), [7001], [501], demo_orders=[])
        # a keyboard to press, as if the bot had answered something earlier
        await call(session, fake, "sendMessage", chat_id=7001, text="menu",
                   reply_markup={"inline_keyboard": [[{"text": "a", "callback_data": "c|menu|status"}]]})
        stop = asyncio.Event()
        task = asyncio.create_task(buyer_loop(crowd, 7001, random.Random(3), stop, wait=0.02))
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert len(crowd.steps) >= 6
        assert {s.kind for s in crowd.steps} == {"mark"}
        report = crowd.check([])
        assert len(report.lost) == len(crowd.steps) and report.by_kind(report.lost) == {"mark": len(crowd.steps)}


async def test_a_buyer_answered_in_time_still_presses_and_asks_for_agents():
    """The rule above must not starve the other kinds: with every step answered at once (a stand-in
    bot writing the texts the harness looks for), presses and /agent come as before."""
    async with DeliveryForum() as fake, ClientSession() as session:
        crowd = Crowd(fake, random.Random(4), [7001], [501], demo_orders=[])
        stop = asyncio.Event()
        answered: set[int] = set()

        async def stand_in() -> None:
            keyboard = {"inline_keyboard": [[{"text": "a", "callback_data": "c|not_found|retry"}]]}
            while not stop.is_set() or len(answered) < len(crowd.steps):  # the last step too
                for step in list(crowd.steps):
                    if step.n in answered:
                        continue
                    answered.add(step.n)
                    if step.kind in UNIQUE:
                        await call(session, fake, "sendMessage", chat_id=7001,
                                   text=crowd.texts.not_found_of(step.token), reply_markup=keyboard)
                    elif step.kind == "press":
                        await call(session, fake, "answerCallbackQuery", callback_query_id=step.query_id)
                    elif step.kind == "agent":
                        await call(session, fake, "sendMessage", chat_id=7001, text=crowd.texts.connecting)
                    # (no agents, so no /bot: a buyer leaves only a handoff whose relays it saw)
                await asyncio.sleep(0.005)

        bot = asyncio.create_task(stand_in())
        task = asyncio.create_task(buyer_loop(crowd, 7001, random.Random(5), stop, wait=1.0))
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.wait_for(asyncio.gather(task, bot), 5)
        kinds = {s.kind for s in crowd.steps}
        assert {"mark", "press", "agent"} <= kinds, kinds
        assert not crowd.check([]).lost
