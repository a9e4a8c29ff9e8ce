"""`POST /ozon/push/<secret>` over real HTTP on 127.0.0.1: PING, acknowledgements, the secret, the
source-IP allow list, repeats stored once, processing after storing, other consumers' types."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.source import OzonSource
from bot.push.endpoint import PushEndpoint, parse_networks, push_path
from bot.push.service import MirrorService
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import FakeOzon, provider_for, sample

SECRET = "s3cr3t-push-path"


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def fake():
    async with FakeOzon() as server:
        server.add(sample("24219509-0020-2", status="awaiting_deliver", substatus="posting_in_carriage"),
                   changed_at=datetime.now(UTC) - timedelta(hours=1))
        yield server


async def running(fake: FakeOzon, tmp_path, *, allow: str = "", trust_forwarded: bool = False, handlers=None):
    provider = provider_for(fake, read_returns=False)
    mirror = Mirror(SqliteMirrorStore(tmp_path / "c.sqlite3"), OzonSource(provider), upstream=provider,
                    handlers=handlers)
    await mirror.sync()
    endpoint = PushEndpoint(mirror.store, SECRET, allow=parse_networks(allow), trust_forwarded=trust_forwarded,
                            version="1.2.3")
    service = MirrorService(mirror, sync_every=3600, endpoint=endpoint, listen=("127.0.0.1", 0))
    await service.start()
    return mirror, service, f"http://127.0.0.1:{service.port}"


async def test_ping_is_answered_with_version_name_and_time(fake, tmp_path):
    mirror, service, url = await running(fake, tmp_path)
    async with aiohttp.ClientSession() as http, \
            http.post(url + push_path(SECRET), json={"message_type": "TYPE_PING",
                                                     "time": "2019-08-24T14:15:22Z"}) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        body = await resp.json()
    assert body["version"] == "1.2.3" and body["name"] == "ozonbot"
    assert abs(datetime.fromisoformat(body["time"]) - datetime.now(UTC)) < timedelta(seconds=5)
    assert await mirror.store.pending_pushes() == [], "a ping is not stored"
    await service.stop()
    await mirror.close()


async def test_a_push_is_stored_acknowledged_then_applied_and_a_repeat_is_stored_once(fake, tmp_path):
    mirror, service, url = await running(fake, tmp_path)
    seen = []
    mirror.subscribe(lambda batch: _record(seen, batch))
    push = {"message_type": "TYPE_STATE_CHANGED", "posting_number": "24219509-0020-2",
            "new_state": "posting_on_way_to_city", "changed_state_date": datetime.now(UTC).isoformat(),
            "warehouse_id": 0, "seller_id": 15}
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # Ozon resends what it thinks was not received
            async with http.post(url + push_path(SECRET), data=json.dumps(push)) as resp:
                assert resp.status == 200 and await resp.json() == {"result": True}

        async def applied() -> bool:
            return [(c.kind.value, c.detail) for c in seen] == [("status", "delivering")]
        await wait_for(applied)
        async with http.post(url + push_path(SECRET), json={"message_type": "TYPE_SOMETHING_NEW", "x": 1}) as resp:
            assert resp.status == 200 and await resp.json() == {"result": True}, "unknown types are acknowledged"
    stored = mirror.store._conn.execute("SELECT count(*) FROM mirror_pushes").fetchone()[0]  # type: ignore[attr-defined]
    assert stored == 2
    await asyncio.sleep(0.1)
    assert len(seen) == 1
    await service.stop()
    await mirror.close()


async def _record(seen: list, batch) -> None:
    seen.extend(batch)


async def test_wrong_secret_bad_body_and_the_allow_list(fake, tmp_path):
    mirror, service, url = await running(fake, tmp_path, allow="ozon", trust_forwarded=True)
    ping = {"message_type": "TYPE_PING", "time": "2019-08-24T14:15:22Z"}
    ozon = {"X-Forwarded-For": "195.34.21.7, 10.0.0.1"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + push_path("wrong"), json=ping, headers=ozon) as resp:
            assert resp.status == 404
        async with http.post(url + push_path(SECRET), json=ping) as resp:
            assert resp.status == 403, "loopback is not one of Ozon's networks"
            assert (await resp.json())["error"]["code"] == "ERROR_UNKNOWN"
        async with http.post(url + push_path(SECRET), json=ping, headers={"X-Forwarded-For": "8.8.8.8"}) as resp:
            assert resp.status == 403
        async with http.post(url + push_path(SECRET), json=ping, headers=ozon) as resp:
            assert resp.status == 200
        async with http.post(url + push_path(SECRET), data=b"{not json", headers=ozon) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "ERROR_PARAMETER_VALUE_MISSED"
        async with http.post(url + push_path(SECRET), json={"posting_number": "1"}, headers=ozon) as resp:
            assert resp.status == 400
    await service.stop()
    await mirror.close()


def test_allow_list_setting_is_checked():
    assert len(parse_networks("ozon, 10.1.2.3")) == 4
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        parse_networks("10.0.0.300")


async def test_other_types_reach_their_handler_after_being_stored(fake, tmp_path):
    got: list[dict] = []

    async def on_message(payload: dict) -> None:
        got.append(payload)

    mirror, service, url = await running(fake, tmp_path, handlers={"TYPE_NEW_MESSAGE": on_message})
    message = {"message_type": "TYPE_NEW_MESSAGE", "chat_id": "b646d975", "chat_type": "Buyer_Seller",
               "message_id": "3000000000817031942", "created_at": "2022-07-18T20:58:04.528Z",
               "user": {"id": "115568", "type": "Customer"}, "data": ["Текст сообщения"], "seller_id": "7"}
    async with aiohttp.ClientSession() as http, http.post(url + push_path(SECRET), json=message) as resp:
        assert resp.status == 200

    async def handled() -> bool:
        return got == [message]
    await wait_for(handled)
    assert await mirror.store.pending_pushes() == []
    await service.stop()
    await mirror.close()


async def test_a_push_about_an_unknown_posting_brings_it_by_an_early_sync(fake, tmp_path, monkeypatch):
    monkeypatch.setattr("bot.push.service.EARLY_SYNC_DELAY", 0.01)
    mirror, service, url = await running(fake, tmp_path)
    fake.add(sample("24219509-0020-1", status="awaiting_packaging", substatus="posting_created"))
    new = {"message_type": "TYPE_NEW_POSTING", "posting_number": "24219509-0020-1",
           "products": [{"sku": 147451959, "quantity": 2}], "in_process_at": "2021-01-26T06:56:36.294Z",
           "warehouse_id": 18850503335000, "seller_id": 15}
    async with aiohttp.ClientSession() as http, http.post(url + push_path(SECRET), json=new) as resp:
        assert resp.status == 200

    async def held() -> bool:
        return bool(await mirror.store.get(["24219509-0020-1"]))
    await wait_for(held)
    await service.stop()
    await mirror.close()
