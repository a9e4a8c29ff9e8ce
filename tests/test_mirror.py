"""The order mirror against the fake Seller API on loopback: sync (baseline, incremental by
last_changed_status_date, cursor paging, full sweep, returns), lookups served from the copy,
changes emitted once to the sinks, deadlines, pushes (Ozon's sample payloads, repeats, reordering)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.orders.changes import PostingChange
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.mirror.mirror import MARK_CHANGED, Mirror
from bot.orders.mirror.push import push_key
from bot.orders.mirror.source import OzonSource
from bot.orders.mirror.store import MemoryMirrorStore
from bot.orders.model import ReturnInfo, Scheme
from bot.orders.numbers import OrderRef
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import (
    FBO_LIST,
    FBS_GET,
    FBS_LIST,
    RETURNS,
    FakeOzon,
    provider_for,
    return_json,
    sample,
    server_error,
)

NOW = datetime.now(UTC)


class Sink:
    def __init__(self, fail: int = 0) -> None:
        self.changes: list[PostingChange] = []
        self.fail = fail

    async def __call__(self, batch) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("consumer down")
        self.changes += batch

    def kinds(self, posting: str | None = None) -> list[tuple[str, str]]:
        return [(c.kind.value, c.detail) for c in self.changes if posting is None or c.posting_number == posting]


def mirror_for(fake: FakeOzon, store=None, **kwargs) -> Mirror:
    provider = provider_for(fake, read_returns=False)
    return Mirror(store or MemoryMirrorStore(), OzonSource(provider), upstream=provider, **kwargs)


def ref(number: str) -> OrderRef:
    parts = number.split("-")
    return OrderRef("-".join(parts[:2]), number if len(parts) == 3 else None)


async def test_baseline_then_incremental_sync_with_paging_emits_each_change_once(tmp_path):
    async with FakeOzon(page_size=3) as fake:
        for i in range(7):
            fake.add(sample(f"1000000{i}-0001-1", status="awaiting_packaging", substatus="posting_created",
                            shipment_date=NOW + timedelta(days=1)), changed_at=NOW - timedelta(hours=1))
        fake.add(sample("20000000-0002-1", scheme=Scheme.FBO, status="delivering"))
        sink = Sink()
        mirror = mirror_for(fake, SqliteMirrorStore(tmp_path / "m.sqlite3"), sinks=[sink])
        report = await mirror.sync()
        assert (report.mode, report.read, report.changes) == ("baseline", 8, 0), "a baseline announces nothing"
        assert fake.count(FBS_LIST) == 3 and fake.count(FBO_LIST) == 1, "7 FBS postings in pages of 3"
        assert [c.body.get("cursor") for c in fake.calls if c.path == FBS_LIST] == [None, "3", "6"]
        assert await mirror.store.get_mark(MARK_CHANGED)

        fake.calls.clear()
        fake.move("10000003-0001-1", status="awaiting_deliver", substatus="posting_transferring_to_delivery")
        report = await mirror.sync()
        assert report.mode == "incremental" and report.read == 1 and not report.full_sweep
        listed = [c.body for c in fake.calls if c.path == FBS_LIST]
        assert len(listed) == 1 and "last_changed_status_date" in listed[0]["filter"]
        assert fake.count(FBS_GET) == 0 and fake.count(FBO_LIST) == 0
        assert sink.kinds() == [("status", "awaiting_deliver")]
        assert sink.changes[0].source == "sync" and sink.changes[0].order.status == "awaiting_deliver"

        await mirror.sync()  # the same posting read again (the overlap): nothing new
        assert len(sink.changes) == 1
        await mirror.close()

        # A restart on the same file continues from the high-water mark, not with a new baseline.
        again = mirror_for(fake, SqliteMirrorStore(tmp_path / "m.sqlite3"), sinks=[sink])
        fake.move("10000004-0001-1", status="cancelled", substatus="posting_canceled",
                  cancellation={"cancel_reason_id": 352, "cancel_reason": "нет в наличии",
                                "cancellation_type": "seller", "cancelled_after_ship": False})
        report = await again.sync()
        assert report.mode == "incremental"
        assert sink.kinds("10000004-0001-1") == [("cancelled", "352")]
        await again.close()


async def test_full_sweep_brings_fbo_moves_and_dates_that_moved_without_a_status_change():
    async with FakeOzon() as fake:
        fake.add(sample("20000000-0002-1", scheme=Scheme.FBO, status="awaiting_deliver"))
        fake.add(sample("30000000-0003-1", status="delivering", delivery_date_end=NOW + timedelta(days=2)))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink], full_every=0.0)
        await mirror.sync()
        fake.move("20000000-0002-1", status="delivering")
        new_end = NOW + timedelta(days=4)
        fake.postings["30000000-0003-1"][1]["analytics_data"]["delivery_date_end"] = new_end.isoformat()
        report = await mirror.sync()
        assert report.full_sweep
        assert sorted(sink.kinds()) == [("delivery_date", new_end.isoformat(timespec="minutes")),
                                        ("status", "delivering")]
        await mirror.close()


async def test_returns_come_from_one_list_call_and_a_refund_is_a_change():
    async with FakeOzon() as fake:
        delivered = sample("40000000-0004-1", status="delivered", substatus="posting_received")
        fake.add(delivered)
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink])
        await mirror.sync()
        returned = ReturnInfo(id=77, type="ClientReturn", status="MoneyReturned", reason="Брак",
                              created_at=datetime.now(UTC))
        fake.returns["40000000-0004-1"] = [return_json("40000000-0004-1", returned)]
        fake.calls.clear()
        await mirror.sync()
        calls = [c.body for c in fake.calls if c.path == RETURNS]
        assert len(calls) == 1 and "visual_status_change_moment" in calls[0]["filter"]
        assert "posting_numbers" not in calls[0]["filter"]
        assert sink.kinds() == [("refund", "77")]
        found = await mirror.find(ref("40000000-0004-1"))
        assert found[0].returns[0].status == "MoneyReturned"
        await mirror.close()


async def test_lookups_come_from_the_mirror_while_fresh():
    async with FakeOzon() as fake:
        fake.add(sample("50000000-0005-1", status="delivering"))
        fake.add(sample("50000000-0005-2", status="awaiting_packaging", shipment_date=NOW + timedelta(days=1)))
        clock = [NOW.timestamp()]
        mirror = mirror_for(fake, max_age=600, clock=lambda: clock[0])
        await mirror.sync()
        fake.calls.clear()
        assert [o.posting_number for o in await mirror.find(ref("50000000-0005"))] == ["50000000-0005-1",
                                                                                       "50000000-0005-2"]
        assert (await mirror.find(ref("50000000-0005-2")))[0].status == "awaiting_packaging"
        assert fake.count() == 0, "served from the copy"

        clock[0] += 601  # older than MIRROR_MAX_AGE: a targeted read
        fake.move("50000000-0005-2", status="awaiting_deliver")
        assert (await mirror.find(ref("50000000-0005-2")))[0].status == "awaiting_deliver"
        assert fake.count(FBS_GET) == 1
        fake.calls.clear()
        orders = await mirror.find(ref("50000000-0005"))  # the other posting is stale too: the list, not gets
        assert [o.status for o in orders] == ["delivering", "awaiting_deliver"]
        assert fake.count(FBS_GET) == 0 and fake.count(FBS_LIST) == 1

        assert await mirror.find(ref("59999999-0009-1")) == [], "not in the mirror, not at Ozon"
        clock[0] += 601
        fake.fail_all(server_error(503))
        assert (await mirror.find(ref("50000000-0005-1")))[0].status == "delivering", "Ozon down: the copy"
        with pytest.raises(OrderBackendUnavailable):
            await mirror.find(ref("59999999-0008-1"))
        await mirror.close()


async def test_deadlines_passed_are_reported_once_each():
    async with FakeOzon() as fake:
        fake.add(sample("60000000-0006-1", status="awaiting_packaging", shipment_date=NOW - timedelta(hours=2)))
        fake.add(sample("60000000-0007-1", status="delivering", delivery_date_end=NOW - timedelta(days=1)))
        fake.add(sample("60000000-0008-1", status="delivering", delivery_date_end=NOW + timedelta(days=1)))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink])
        await mirror.sync()
        await mirror.sync()
        assert sorted(sink.kinds()) == [
            ("delivery_late", (NOW - timedelta(days=1)).isoformat(timespec="minutes")),
            ("shipment_late", (NOW - timedelta(hours=2)).isoformat(timespec="minutes"))]
        await mirror.close()


async def test_a_failing_sink_gets_the_changes_again_and_nothing_is_lost():
    async with FakeOzon() as fake:
        fake.add(sample("70000000-0007-1", status="awaiting_packaging"))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink])
        await mirror.sync()
        fake.move("70000000-0007-1", status="awaiting_deliver")
        sink.fail = 1000  # down for the whole sync
        await mirror.sync()
        assert sink.changes == []
        sink.fail = 0
        assert await mirror.dispatch() == 1
        assert sink.kinds() == [("status", "awaiting_deliver")]
        assert await mirror.dispatch() == 0
        await mirror.close()


# --- pushes, with the payloads of Ozon's documentation (swagger "push_types") -----------------------

def state_changed(posting: str, state: str, at: datetime) -> dict:
    return {"message_type": "TYPE_STATE_CHANGED", "posting_number": posting, "new_state": state,
            "changed_state_date": at.isoformat().replace("+00:00", "Z"), "warehouse_id": 0, "seller_id": 15}


async def push(mirror: Mirror, payload: dict) -> bool:
    body = json.dumps(payload).encode()
    stored = await mirror.store.put_push(push_key(body), payload["message_type"], body.decode(), 0.0)
    await mirror.process_pushes()
    return stored is not None


async def test_pushes_apply_in_order_and_repeats_or_late_arrivals_change_nothing():
    async with FakeOzon() as fake:
        fake.add(sample("24219509-0020-2", status="awaiting_deliver", substatus="posting_in_carriage",
                        shipment_date=NOW + timedelta(hours=5), delivery_date_end=NOW + timedelta(days=3)))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink])
        await mirror.sync()
        fake.calls.clear()
        now = datetime.now(UTC)  # after the sync's read (NOW is when the module was imported)
        t1, t2 = now + timedelta(minutes=1), now + timedelta(minutes=2)
        on_way = state_changed("24219509-0020-2", "posting_on_way_to_city", t1)
        pickup = state_changed("24219509-0020-2", "posting_in_pickup_point", t2)
        assert await push(mirror, pickup)  # the later one arrives first
        assert await push(mirror, on_way) and not await push(mirror, pickup)
        assert await push(mirror, {**on_way, "warehouse_id": 1})  # same event, other body: a stale status
        # The later state wins; the earlier one, arriving after it, is stale: never a step backwards.
        assert sink.kinds() == [("at_pickup_point", "")]
        held = (await mirror.find(ref("24219509-0020-2")))[0]
        assert (held.status, held.substatus, held.status_changed_at) == ("delivering", "posting_in_pickup_point", t2)
        assert fake.count() == 0, "pushes about held postings cost no call"

        # Then a sync that read the posting before the push was applied does not take it back.
        await mirror.apply([sample("24219509-0020-2", status="awaiting_deliver", substatus="posting_in_carriage")],
                           source="sync", read_at=NOW.timestamp())
        assert (await mirror.find(ref("24219509-0020-2")))[0].substatus == "posting_in_pickup_point"
        await mirror.close()


async def test_cancel_cutoff_and_delivery_date_pushes():
    async with FakeOzon() as fake:
        cutoff = datetime(2021, 11, 21, 10, tzinfo=UTC)
        fake.add(sample("24219509-0020-1", status="awaiting_packaging", substatus="posting_created",
                        shipment_date=cutoff, delivery_date_end=None, delivery_date_begin=None))
        fake.add(sample("24219509-0020-3", status="delivering", substatus="posting_on_way_to_city",
                        delivery_date_begin=datetime(2021, 11, 21, 10, tzinfo=UTC),
                        delivery_date_end=datetime(2021, 11, 21, 19, tzinfo=UTC)))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink])
        await mirror.sync()
        sink.changes.clear()
        await push(mirror, {"message_type": "TYPE_CUTOFF_DATE_CHANGED", "posting_number": "24219509-0020-1",
                            "new_cutoff_date": "2099-11-24T07:00:00Z", "old_cutoff_date": "2021-11-21T10:00:00Z",
                            "warehouse_id": 0, "seller_id": 15})
        await push(mirror, {"message_type": "TYPE_DELIVERY_DATE_CHANGED", "posting_number": "24219509-0020-3",
                            "new_delivery_date_begin": "2099-11-24T07:00:00Z",
                            "new_delivery_date_end": "2099-11-24T16:00:00Z",
                            "old_delivery_date_begin": "2021-11-21T10:00:00Z",
                            "old_delivery_date_end": "2021-11-21T19:00:00Z", "warehouse_id": 0, "seller_id": 15})
        await push(mirror, {"message_type": "TYPE_POSTING_CANCELLED", "posting_number": "24219509-0020-1",
                            "products": [{"sku": 147451959, "quantity": 1}], "old_state": "posting_created",
                            "new_state": "posting_canceled", "changed_state_date": "2099-01-26T06:56:36.294Z",
                            "reason": {"id": 506, "message": "Нашёл дешевле"}, "warehouse_id": 0, "seller_id": 15})
        assert sink.kinds() == [("cutoff_date", "2099-11-24T07:00+00:00"),
                                ("delivery_date", "2099-11-24T16:00+00:00"), ("cancelled", "506")]
        cancelled = (await mirror.find(ref("24219509-0020-1")))[0]
        assert cancelled.cancellation is not None and cancelled.cancellation.reason == "Нашёл дешевле"
        await mirror.close()


async def test_a_push_about_an_unknown_posting_asks_for_an_early_sync_and_unknown_types_are_ignored():
    async with FakeOzon() as fake:
        mirror = mirror_for(fake)
        await mirror.sync()
        await push(mirror, {"message_type": "TYPE_NEW_POSTING", "posting_number": "24219509-0020-1",
                            "products": [{"sku": 147451959, "quantity": 2}],
                            "in_process_at": "2021-01-26T06:56:36.294Z", "warehouse_id": 18850503335000,
                            "seller_id": 15})
        assert mirror.sync_wanted.is_set()
        await push(mirror, {"message_type": "TYPE_PRICE_INDEX_CHANGED", "seller_id": 0, "sku": 1})
        assert await mirror.store.pending_pushes() == []
        fake.add(sample("24219509-0020-1", status="awaiting_packaging"))
        sink = Sink()
        mirror.sinks.append(sink)
        await mirror.sync()
        assert sink.kinds() == [("new", "")]
        await mirror.close()


async def test_other_consumers_get_their_push_types_after_they_are_stored():
    seen: list[dict] = []
    failures = [1]

    async def on_message(payload: dict) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("chat adapter busy")
        seen.append(payload)

    async with FakeOzon() as fake:
        mirror = mirror_for(fake, handlers={"TYPE_NEW_MESSAGE": on_message})
        message = {"message_type": "TYPE_NEW_MESSAGE", "chat_id": "b646d975-0c9c-4872-9f41-8b1e57181063",
                   "chat_type": "Buyer_Seller", "message_id": "3000000000817031942",
                   "created_at": "2022-07-18T20:58:04.528Z", "user": {"id": "115568", "type": "Customer"},
                   "data": ["Текст сообщения"], "seller_id": "7"}
        await push(mirror, message)
        assert seen == [] and len(await mirror.store.pending_pushes()) == 1, "kept for the next pass"
        await mirror.process_pushes()
        assert seen == [message] and await mirror.store.pending_pushes() == []
        await mirror.close()


async def test_concurrent_syncs_run_one_at_a_time():
    async with FakeOzon(latency=0.02) as fake:
        fake.add(sample("80000000-0008-1"))
        mirror = mirror_for(fake)
        reports = await asyncio.gather(mirror.sync(), mirror.sync())
        assert sorted(r.mode for r in reports) == ["baseline", "incremental"]
        await mirror.close()


async def test_cancelling_through_the_mirror_reaches_ozon_and_refreshes_the_copy():
    async with FakeOzon() as fake:
        fake.add(sample("90000000-0009-1", status="awaiting_packaging", substatus="posting_created"))
        sink = Sink()
        provider = provider_for(fake, read_returns=False, allow_cancel=True)
        mirror = Mirror(MemoryMirrorStore(), OzonSource(provider), upstream=provider, sinks=[sink])
        await mirror.sync()
        assert await mirror.cancel_posting("90000000-0009-1", 506) is True
        assert fake.cancelled[0]["posting_number"] == "90000000-0009-1"
        assert (await mirror.find(ref("90000000-0009-1")))[0].status == "cancelled"
        assert sink.kinds() == [("cancelled", "506")]
        assert not hasattr(Mirror(MemoryMirrorStore(), OzonSource(provider)), "cancel_posting"), \
            "without a provider behind it, the mirror offers no cancelling"
        await mirror.close()


async def test_retention_forgets_old_final_postings_and_asked_again_they_come_back_quietly(tmp_path):
    then = NOW - timedelta(days=150)
    old = {"created_at": then - timedelta(days=5), "in_process_at": then - timedelta(days=5)}
    async with FakeOzon() as fake:
        fake.add(sample("61000000-0006-1", status="delivered", substatus="posting_received", **old))
        fake.add(sample("62000000-0006-1", status="cancelled", substatus="posting_canceled", **old))
        fake.add(sample("63000000-0006-1", status="client_arbitration", substatus="posting_in_client_arbitration",
                        **old))
        sink = Sink()
        clock = [then.timestamp()]
        provider = provider_for(fake, read_returns=False, cache_ttl=0.0)  # each lookup a read (clock jumps)
        mirror = Mirror(SqliteMirrorStore(tmp_path / "m.sqlite3"), OzonSource(provider), upstream=provider,
                        sinks=[sink], keep_days=120, clock=lambda: clock[0])
        for number in ("61000000-0006-1", "62000000-0006-1", "63000000-0006-1"):
            await mirror.find(ref(number))  # 150 days ago: a first sight of fresh postings is news
        assert sink.kinds() == [("new", "")] * 3

        clock[0] = NOW.timestamp()
        assert await mirror.purge(clock[0]) == {"mirror_postings": 2, "mirror_changes": 2}
        assert sorted(await mirror.store.get(["61000000-0006-1", "62000000-0006-1", "63000000-0006-1"])) == [
            "63000000-0006-1"], "a dispute is not final: kept however old"
        assert await mirror.purge(clock[0]) == {"mirror_postings": 0, "mirror_changes": 0}

        sink.changes.clear()
        fake.calls.clear()
        [again] = await mirror.find(ref("61000000-0006-1"))  # by posting number: fbs/get
        assert (again.posting_number, again.status) == ("61000000-0006-1", "delivered")
        [cancelled] = await mirror.find(ref("62000000-0006"))  # by order number: the list methods
        assert cancelled.status == "cancelled"
        assert fake.count(FBS_GET) == 1 and fake.count(FBS_LIST) == 1
        assert sink.changes == [] and await mirror.store.pending_changes() == [], "history, not news"
        assert await mirror.store.count() == 3
        assert (await mirror.find(ref("61000000-0006-1")))[0].status == "delivered"
        assert fake.count(FBS_GET) == 1, "held again: served from the copy"
        assert await mirror.purge(clock[0]) == {"mirror_postings": 0, "mirror_changes": 0}, \
            "read again just now: its window starts again"
        await mirror.close()


async def test_without_retention_nothing_is_purged_and_first_sights_stay_news():
    async with FakeOzon() as fake:
        fake.add(sample("64000000-0006-1", status="delivered", created_at=NOW - timedelta(days=400)))
        sink = Sink()
        mirror = mirror_for(fake, sinks=[sink], keep_days=0)
        await mirror.find(ref("64000000-0006-1"))
        assert sink.kinds() == [("new", "")]
        assert await mirror.purge(NOW.timestamp() + 1000 * 86400) == {}
        assert await mirror.store.count() == 1
        await mirror.close()
