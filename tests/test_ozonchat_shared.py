"""Ozon chat with several processes on one PostgreSQL database: a buyer's message is answered once
whichever processes picked it up, only the leader polls Ozon, and a message a stopped process left
half-handled is taken up by the leader once its lease ran out."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.app import build_app
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.ozon.client import OzonClient
from bot.ozonchat.adapter import OzonChatAdapter
from bot.ozonchat.api import OzonChatApi
from bot.settings import Settings
from bot.store.base import INBOX_BUSY, InboxItem
from bot.store.postgres import PgStore
from tests.conftest import NOW
from tests.fake_ozon import API_KEY, CLIENT_ID
from tests.fake_ozon_chat import FakeOzonChat

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def fake():
    async with FakeOzonChat() as server:
        yield server


@pytest.fixture
async def adapters(tmp_path, pg_url, catalogs, clock, fake):
    """Two processes' adapters: each its own app, store and API client, one database, one Ozon."""
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    settings.data_dir.mkdir(parents=True)
    seed(settings.demo_orders_path, now=NOW)
    made = []
    for _ in range(2):
        app = build_app(settings, catalogs=catalogs, clock=clock, orders=DemoOrderProvider(settings.demo_orders_path))
        api = OzonChatApi(OzonClient(CLIENT_ID, API_KEY, base_url=fake.url))
        made.append((app, api, OzonChatAdapter(app, api, clock=clock.now, lease=0.5)))
    yield [a for _, _, a in made]
    for app, api, adapter in made:
        await adapter.close()
        await api.close()
        await app.close()


async def settle(*adapters: OzonChatAdapter) -> None:
    for adapter in adapters:
        await asyncio.wait_for(adapter.drain(), 30)


async def test_a_message_both_processes_picked_up_is_answered_once(adapters, fake):
    a, b = adapters
    assert isinstance(a.store, PgStore) and a.shared is not None
    pushes = [fake.buyer_writes(f"chat-{i}", "Здравствуйте", at=NOW) for i in range(5)]
    for push in pushes:  # both processes got each message (a push and a poll, or Ozon resending)
        await asyncio.gather(a.handle_push(push), b.handle_push(dict(push)))
    await settle(a, b)
    for i in range(5):
        assert len(fake.sent(f"chat-{i}")) == 1, "one answer per message, whichever process had it"
        entries = await a.store.transcript(f"oz:chat-{i}")
        assert [e.text for e in entries if e.direction == "in"] == ["Здравствуйте"]


async def test_only_the_leader_polls(adapters, fake):
    a, b = adapters
    fake.buyer_writes("chat-p", "Здравствуйте", at=NOW)
    stop = asyncio.Event()
    follower = asyncio.create_task(b.poll_forever(0.05, stop, leader=lambda: False))
    await asyncio.sleep(0.4)
    assert fake.calls_to("/v3/chat/list") == [], "a process that does not lead never polls"
    leader = asyncio.create_task(a.poll_forever(0.05, stop, leader=lambda: True))
    for _ in range(100):
        if fake.sent("chat-p"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(asyncio.gather(follower, leader), 10)
    await settle(a, b)
    assert len(fake.sent("chat-p")) == 1


async def test_a_message_a_stopped_process_held_is_taken_up_after_its_lease(adapters, fake, pg_url):
    a, _ = adapters
    push = fake.buyer_writes("chat-o", "Здравствуйте", at=NOW)
    key = f"oz:{push['message_id']}"
    dead = PgStore(pg_url)  # the process that stored and claimed it, then died (never released)
    stored = InboxItem(key, "oz:chat-o", json.dumps(push, ensure_ascii=False), 1.0)  # stored in a push's shape
    assert await dead.inbox_store_claim(stored, lease=0.6) == "new"
    assert await a.requeue_orphans() == 1
    await settle(a)
    assert fake.sent("chat-o") == [], "while its lease runs the message is the other process's"
    assert await a.shared.inbox_claim(key, 0.1) == INBOX_BUSY
    await asyncio.sleep(0.7)
    assert await a.requeue_orphans() == 1
    await settle(a)
    assert len(fake.sent("chat-o")) == 1, "answered once the lease ran out"
    entries = await a.store.transcript("oz:chat-o")
    assert [e.text for e in entries if e.direction == "in"] == ["Здравствуйте"]
    assert await a.requeue_orphans() == 0, "finished: nothing left"
    await dead.close()
