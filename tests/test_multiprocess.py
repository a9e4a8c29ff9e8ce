"""Several bot processes behind one webhook address, on one PostgreSQL (issue 14): each chat's
turns stay in order, none is lost or run twice, no relay is sent twice, while processes are killed
with -9 in the middle of a turn.

Three `python -m bot run --webhook` processes share DATABASE_URL (a schema of the test session's
PostgreSQL) and register the same webhook URL: a round-robin proxy (tests/lb_proxy.py) in front of
them. The fake Bot API (tests/fake_delivery.py) queues updates as Telegram does: a chat's messages
one at a time, the next only after a 2xx, and a user's button presses in a queue of their own (so a
press can race a typed message); 5% of updates are posted again after their 2xx. Buyers and an
agent act as in the single-process crash test (tests/crash_harness.py: unique order numbers, demo
orders, presses, /agent and /bot, agents' texts). Every few seconds one process is killed with -9
while the proxy has a request of it in flight (mid-turn), then started again (MULTI_KILLS, 4). The fake's records
alone must then show every step handled exactly once (a send in flight at a kill may repeat: counted
apart), each chat's answers in the order of its messages, and the shared database every unique
buyer message once.

    .venv/bin/pytest tests/test_multiprocess.py -s        # prints the summary
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.crash_harness import UNIQUE, BotProcess, Crowd, Kill, agents_loop, buyer_loop, dump, free_port
from tests.fake_delivery import DeliveryForum, chat_of
from tests.lb_proxy import RoundRobin

ENABLED = os.environ.get("KILL9", "1") != "0"
SEED = int(os.environ.get("KILL9_SEED", "20261201"))
PROCESSES = 3
KILLS = int(os.environ.get("MULTI_KILLS", "4"))  # processes killed -9 (one at a time, each restarted)
BUDGET = 120.0  # seconds of traffic at most while they are killed
KILL_EVERY = 4.0  # seconds between kills (about)
LEASE = 2.0  # DATABASE_LEASE_SECONDS: a killed process's update is taken over this long after it claimed it

pytestmark = [
    pytest.mark.skipif(not ENABLED, reason="KILL9=0: crash tests skipped"),
    pytest.mark.timeout(300),
]


class TelegramQueues(DeliveryForum):
    """Telegram's webhook queues: messages per chat, callback queries per user (WebhookActor)."""

    def queue_of(self, update: dict[str, Any]) -> Any:
        query = update.get("callback_query")
        if query is not None:
            return ("user", query["from"]["id"])
        return chat_of(update)


class PeerProcess(BotProcess):
    """A bot process listening on a port of its own, registering the load balancer's URL."""

    def __init__(self, fake: DeliveryForum, workdir: Path, *, port: int, hook: str, env: dict[str, str]) -> None:
        super().__init__(fake, workdir, webhook_port=port, env=env)
        self.hook = hook

    def argv(self) -> list[str]:
        return [*super().argv()[:4], "--webhook", self.hook, "--listen", f"127.0.0.1:{self.webhook_port}"]


async def kill_mid_turn(bot: PeerProcess, proxy: RoundRobin, rng: random.Random, timeout: float = 5.0) -> Kill | None:
    """SIGKILL while the proxy has a request of this process in flight (its turn is running), or at
    once when none comes within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.in_flight[bot.webhook_port or 0] > 0:
            await asyncio.sleep(rng.random() * 0.01)
            return await bot.kill("mid-turn")
        await asyncio.sleep(0.001)
    return await bot.kill("random")


def out_of_order(crowd: Crowd, report) -> list[str]:
    """Chats whose answers came in another order than the messages they answer (marks, texts and
    demo orders: each answer names its message)."""
    problems = []
    for chat in crowd.buyers:
        firsts = [(v.step.n, min(c.at for c in v.evidence)) for v in report.verdicts
                  if v.step.chat == chat and v.step.kind in UNIQUE and v.evidence]
        for (n1, at1), (n2, at2) in itertools.pairwise(firsts):
            if at2 < at1:
                problems.append(f"chat {chat}: step {n2} answered before step {n1}")
    return problems


async def test_several_processes_keep_every_chat_in_order_through_kill9(tmp_path: Path, pg_url: str):
    rng = random.Random(SEED)
    ports = [free_port() for _ in range(PROCESSES)]
    proxy = await RoundRobin(ports).start()
    env = {"DATABASE_URL": pg_url, "WEBHOOK_SECRET": "multi-process-secret", "DATABASE_LEASE_SECONDS": str(LEASE),
           "LINK_SECRET": "multi-process-link-secret", "DATABASE_POOL_SIZE": "4"}
    buyers = [7001, 7002, 7003, 7004, 7005, 7006]
    async with TelegramQueues() as fake:
        fake.repeat_after_2xx = 0.05
        bots = [PeerProcess(fake, tmp_path / f"p{i}", port=port, hook=proxy.url("/tg/hook"), env=env)
                for i, port in enumerate(ports)]
        for bot in bots:
            await bot.start(timeout=90)
        crowd = Crowd(fake, random.Random(rng.random()), buyers, [501])
        stop = asyncio.Event()
        tasks = [asyncio.create_task(buyer_loop(crowd, chat, random.Random(rng.random()), stop)) for chat in buyers]
        tasks.append(asyncio.create_task(agents_loop(crowd, random.Random(rng.random()), stop)))
        started = time.monotonic()
        try:
            while sum(len(b.kills) for b in bots) < KILLS and time.monotonic() - started < BUDGET:
                await asyncio.sleep(KILL_EVERY * (0.5 + rng.random()))
                victim = rng.choice([b for b in bots if b.running])
                await kill_mid_turn(victim, proxy, rng)
                await asyncio.sleep(0.5)
                await victim.start(timeout=90)  # the others carry on meanwhile
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
            deadline, calls, quiet = time.monotonic() + 60, len(fake.requests), time.monotonic()
            while time.monotonic() < deadline:  # until nothing is pending and the calls stopped
                await asyncio.sleep(0.5)
                if len(fake.requests) != calls:
                    calls, quiet = len(fake.requests), time.monotonic()
                if not fake.pending and time.monotonic() - quiet > 2.0:
                    break
            for bot in bots:
                await bot.stop()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for bot in bots:
                if bot.running:
                    await bot.kill("cleanup")
            await proxy.stop()
        kills = sorted((k for b in bots for k in b.kills if k.mode != "cleanup"), key=lambda k: k.before)
        for n, kill in enumerate(kills, 1):
            kill.n = n
        report = crowd.check(kills)
        dump(crowd, kills, tmp_path / "records.json")
    order = out_of_order(crowd, report)
    print(f"\n==== {PROCESSES} processes, {len(kills)} kills -9 ({sum(k.mode == 'mid-turn' for k in kills)} mid-turn), "
          f"requests per process {dict(proxy.served)} ====\n{report.summary()}\nout of order: {order}\n"
          f"logs: {tmp_path}/p*/bot.log")
    assert len(kills) >= min(KILLS, 3), "the run must kill processes"
    assert sum(k.mode == "mid-turn" for k in kills) >= 1, "at least one kill lands in the middle of a turn"
    assert all(n > 0 for n in proxy.served.values()) and len(proxy.served) == PROCESSES, "every process served"
    assert len(report.verdicts) > 60
    assert not report.still_pending, f"updates never confirmed: {report.still_pending}"
    assert not report.lost, f"{len(report.lost)} lost:\n{report.summary()}"
    assert not report.duplicated, f"{len(report.duplicated)} handled twice:\n{report.summary()}"
    assert not order, order
    conn = await asyncpg.connect(pg_url)
    try:
        twice = await conn.fetch("SELECT chat_id, text, count(*) FROM messages WHERE direction='in' "
                                 "AND text ~ '9[0-9]{7}-[0-9]{4}' GROUP BY chat_id, text HAVING count(*) > 1")
        unique = await conn.fetchval("SELECT count(*) FROM messages WHERE direction='in' "
                                     "AND text ~ '9[0-9]{7}-[0-9]{4}'")
        relays_twice = await conn.fetchval("SELECT count(*) FROM (SELECT key FROM handoff_relays GROUP BY key "
                                           "HAVING count(*) > 1) d")
    finally:
        await conn.close()
    assert unique > 30, f"only {unique} unique buyer messages in the database: the check would prove nothing"
    assert twice == [], f"updates recorded (so run) more than once: {twice[:5]}"
    assert relays_twice == 0
