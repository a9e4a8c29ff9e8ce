"""OzonOrderProvider against the fake Seller API: lookups, caching, coalescing, every fault path."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.orders.errors import OrderBackendUnavailable
from bot.orders.model import ReturnInfo, Scheme
from bot.orders.numbers import OrderRef
from bot.orders.ozon import CancelDisabled, OzonAuthError, OzonTransientError
from tests.fake_ozon import (
    API_KEY,
    CANCEL,
    CANCEL_REASONS,
    FBO_GET,
    FBO_LIST,
    FBS_GET,
    FBS_LIST,
    RETURNS,
    FakeOzon,
    bad_key,
    circle_open,
    deactivated,
    malformed,
    missing_role,
    provider_for,
    rate_limited,
    sample,
    server_error,
    slow,
)

P1, P2, PF = "12345678-0001-1", "12345678-0001-2", "87654321-0002-1"


def ref(number: str) -> OrderRef:
    parts = number.split("-")
    return OrderRef("-".join(parts[:2]), number if len(parts) == 3 else None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake():
    async with FakeOzon() as server:
        server.add(sample(P1, related_postings=[P2]))
        server.add(sample(P2, status="delivered", substatus="posting_received", related_postings=[P1],
                          returns=[ReturnInfo(id=7, type="ClientReturn", status="MovingToSeller", reason="Брак")]))
        server.add(sample(PF, scheme=Scheme.FBO, phone_last4=None, tracking_number=""))
        yield server


@pytest.fixture
async def provider(fake):
    p = provider_for(fake)
    yield p
    await p.close()


async def find(provider, number: str, timeout: float = 5.0):
    return await asyncio.wait_for(provider.find(ref(number)), timeout)


# --- lookups -------------------------------------------------------------------------------------------


async def test_posting_number_reads_fbs_get_with_the_documented_body(fake, provider):
    [order] = await find(provider, P1)
    assert (order.posting_number, order.status, order.phone_last4) == (P1, "delivering", "4321")
    assert order.related_postings == [P2] and order.fetched_at is not None
    [call] = fake.calls
    assert call.path == FBS_GET
    assert call.body == {"posting_number": P1,
                         "with": {"analytics_data": True, "financial_data": True, "related_postings": True}}
    assert "777.77" not in order.model_dump_json()


async def test_fbo_posting_falls_back_to_fbo_get(fake, provider):
    [order] = await find(provider, PF)
    assert order.scheme is Scheme.FBO and order.phone_last4 is None
    assert [c.path for c in fake.calls] == [FBS_GET, FBO_GET]


async def test_order_number_lists_then_reads_every_posting(fake, provider):
    found = await find(provider, "12345678-0001")
    assert [o.posting_number for o in found] == [P1, P2]
    assert found[1].returns[0].status == "MovingToSeller"
    paths = [c.path for c in fake.calls]
    assert sorted(paths[:2]) == [FBO_LIST, FBS_LIST] and paths.count(FBS_GET) == 2
    listing = next(c for c in fake.calls if c.path == FBS_LIST).body["filter"]
    assert listing["order_numbers"] == ["12345678-0001"]
    since = datetime.fromisoformat(listing["since"])
    assert timedelta(days=364) < datetime.now(UTC) - since <= timedelta(days=365, seconds=5)


async def test_product_names_for_decoys_come_from_recent_postings_and_postings_read(fake, provider):
    fake.add(sample("55555555-0003-1", products=[sample().products[0].model_copy(update={"name": "Термокружка"})]))
    names = await provider.product_names()
    assert {"Чайник", "Термокружка"} <= set(names)
    listing = next(c for c in fake.calls if c.path == FBS_LIST).body["filter"]
    assert "order_numbers" not in listing
    assert timedelta(days=29) < datetime.now(UTC) - datetime.fromisoformat(listing["since"]) <= timedelta(days=31)
    calls = len(fake.calls)
    assert await provider.product_names() == names and len(fake.calls) == calls, "listed once an hour"


async def test_product_names_survive_a_failing_list(fake, provider):
    await find(provider, P1)
    fake.fail(FBS_LIST, *[server_error()] * 10)
    fake.fail(FBO_LIST, *[server_error()] * 10)
    assert "Чайник" in await asyncio.wait_for(provider.product_names(), 30)


async def test_fbo_order_number_reads_fbo_get_directly(fake, provider):
    [order] = await find(provider, "87654321-0002")
    assert order.scheme is Scheme.FBO and fake.count(FBS_GET) == 0


async def test_not_found_is_an_empty_list(fake, provider):
    assert await find(provider, "11111111-0001-1") == []
    assert await find(provider, "11111111-0001") == []
    assert fake.count(FBS_GET) == 1 and fake.count(FBO_GET) == 1


async def test_returns_are_read_only_after_delivery_or_cancellation(fake, provider):
    await find(provider, P1)
    [delivered] = await find(provider, P2)
    assert fake.count(RETURNS) == 1
    assert next(c for c in fake.calls if c.path == RETURNS).body["filter"] == {"posting_numbers": [P2]}
    assert delivered.returns == [ReturnInfo(id=7, type="ClientReturn", status="MovingToSeller", reason="Брак")]


# --- cache and coalescing --------------------------------------------------------------------------------


async def test_cache_serves_within_ttl_then_refreshes(fake):
    clock = Clock()
    provider = provider_for(fake, clock=clock, cache_ttl=30.0)
    first = await find(provider, P1)
    clock.now += 29
    assert await find(provider, P1) == first and fake.count() == 1
    clock.now += 2
    fresh = await find(provider, P1)
    assert fake.count() == 2 and fresh[0].fetched_at > first[0].fetched_at
    await provider.close()


async def test_concurrent_lookups_share_one_call(fake):
    fake.latency = 0.05
    provider = provider_for(fake)
    results = await asyncio.wait_for(asyncio.gather(*(provider.find(ref(P1)) for _ in range(50))), 5)
    assert fake.count(FBS_GET) == 1 and all(r == results[0] for r in results)
    await provider.close()


async def test_a_cancelled_waiter_does_not_cancel_the_shared_call(fake):
    fake.latency = 0.1
    provider = provider_for(fake)
    impatient = asyncio.ensure_future(provider.find(ref(P1)))
    patient = asyncio.ensure_future(provider.find(ref(P1)))
    await asyncio.sleep(0.02)
    impatient.cancel()
    assert (await asyncio.wait_for(patient, 5))[0].posting_number == P1
    assert fake.count(FBS_GET) == 1
    await provider.close()


# --- faults and retries -------------------------------------------------------------------------------------


async def test_500_then_200_is_retried(fake, provider):
    fake.fail(FBS_GET, server_error(500), server_error(503))
    [order] = await find(provider, P1)
    assert order.posting_number == P1 and fake.count(FBS_GET) == 3
    assert len(provider._sleep.delays) == 2 and provider._sleep.delays[1] > provider._sleep.delays[0] / 2


async def test_429_honours_retry_after(fake, provider):
    fake.fail(FBS_GET, rate_limited(retry_after=0.4))
    assert await find(provider, P1)
    assert provider._sleep.delays == [0.4]


async def test_429_without_retry_after_backs_off(fake, provider):
    fake.fail(FBS_GET, rate_limited(), rate_limited())
    assert await find(provider, P1)
    assert len(provider._sleep.delays) == 2 and all(0 < d <= 1.0 for d in provider._sleep.delays)


async def test_circle_is_open_is_retried(fake, provider):
    fake.fail(FBS_GET, circle_open())
    assert await find(provider, P1)
    assert fake.count(FBS_GET) == 2


async def test_circle_open_for_minutes_is_not_waited_for(fake, provider):
    fake.fail(FBS_GET, circle_open(retry_after=300))
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P1)
    assert fake.count(FBS_GET) == 1


async def test_malformed_json_is_retried(fake, provider):
    fake.fail(FBS_GET, malformed())
    assert await find(provider, P1)
    assert fake.count(FBS_GET) == 2


async def test_slow_reply_times_out_and_is_retried(fake):
    provider = provider_for(fake, timeout=0.2)
    fake.fail(FBS_GET, slow(1.0))
    assert await find(provider, P1)
    assert fake.count(FBS_GET) == 2
    await provider.close()


async def test_persistent_outage_gives_up_after_max_retries(fake):
    provider = provider_for(fake, max_retries=3, breaker_threshold=100)
    fake.fail_all(server_error())
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P1)
    assert fake.count() == 4
    await provider.close()


async def test_bad_key_is_unavailable_not_retried_and_logged_once_without_the_key(fake, caplog):
    provider = provider_for(fake, api_key="wrong-key-123")
    caplog.set_level(logging.INFO, logger="bot.orders.ozon")
    for _ in range(3):
        with pytest.raises(OrderBackendUnavailable) as info:
            await find(provider, P1)
        assert isinstance(info.value.__cause__, OzonAuthError)
    assert fake.count() == 3  # one call per lookup: never retried
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and fake.client_id in errors[0].getMessage()
    assert "wrong-key-123" not in caplog.text and "wrong-key-123" not in repr(provider.client)
    await provider.close()


@pytest.mark.parametrize("fault", [bad_key(), deactivated(), missing_role()])
async def test_every_credentials_failure_is_unavailable(fake, provider, fault):
    fake.fail(FBS_GET, fault)
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P1)
    assert fake.count() == 1


async def test_breaker_fails_fast_then_probes(fake):
    clock = Clock()
    # breaker_wait=0: a call meeting the open circuit fails at once (by default it would wait for the probe)
    provider = provider_for(fake, clock=clock, max_retries=0, breaker_threshold=3, breaker_cooldown=30.0,
                            breaker_wait=0)
    fake.fail_all(server_error())
    for n in ("11111111-0001-1", "11111111-0002-1", "11111111-0003-1"):
        with pytest.raises(OrderBackendUnavailable):
            await find(provider, n)
    assert provider.breaker.state == "open" and fake.count() == 3
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P1)
    assert fake.count() == 3  # failed fast, no call
    fake.fail_all(None)
    clock.now += 30
    assert await find(provider, P1)
    assert provider.breaker.state == "closed"
    await provider.close()


async def test_stale_copy_is_served_during_an_outage(fake):
    clock = Clock()
    provider = provider_for(fake, clock=clock, max_retries=1)
    [fresh] = await find(provider, P1)
    clock.now += 60
    fake.fail_all(server_error())
    [stale] = await find(provider, P1)
    assert stale == fresh and stale.fetched_at == fresh.fetched_at  # its age tells the caller it is stale
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P2)  # nothing cached: cannot answer
    await provider.close()


async def test_stale_order_number_lookup_during_an_outage(fake):
    clock = Clock()
    provider = provider_for(fake, clock=clock, max_retries=0)
    fresh = await find(provider, "12345678-0001")
    clock.now += 60
    fake.fail_all(rate_limited(retry_after=60))
    assert await find(provider, "12345678-0001") == fresh
    await provider.close()


async def test_auth_failure_does_not_hide_behind_a_stale_copy(fake):
    clock = Clock()
    provider = provider_for(fake, clock=clock)
    await find(provider, P1)
    clock.now += 60
    fake.fail(FBS_GET, deactivated())
    with pytest.raises(OrderBackendUnavailable):
        await find(provider, P1)
    await provider.close()


# --- rate caps ------------------------------------------------------------------------------------------------


async def test_fbs_get_never_exceeds_its_cap(fake):
    for i in range(7):
        fake.add(sample(f"22222222-0001-{i + 1}"))
    provider = provider_for(fake, fbs_get_rps=2.0)
    await asyncio.wait_for(asyncio.gather(*(provider.find(ref(f"22222222-0001-{i + 1}")) for i in range(7))), 10)
    assert fake.count(FBS_GET) == 7 and fake.max_rps(FBS_GET) <= 2
    await provider.close()


async def test_global_cap_counts_every_method(fake):
    numbers = [f"33333333-0001-{i + 1}" for i in range(12)]
    for n in numbers:
        fake.add(sample(n, status="delivered"))  # each lookup makes two calls: get + returns
    provider = provider_for(fake, fbs_get_rps=100.0, global_rps=8.0)
    await asyncio.wait_for(asyncio.gather(*(provider.find(ref(n)) for n in numbers)), 10)
    assert fake.count() == 24 and fake.max_rps() <= 8
    await provider.close()


async def test_429_holds_back_the_other_calls(fake):
    fake.fail(FBS_GET, rate_limited(retry_after=0.3))
    provider = provider_for(fake, sleep=asyncio.sleep, fbs_get_rps=50.0)
    await find(provider, P1)
    started = asyncio.get_running_loop().time()
    await find(provider, P2)
    assert asyncio.get_running_loop().time() - started < 0.3  # the pause is over once the retry went out
    gets = [c.at for c in fake.calls if c.path == FBS_GET]
    assert gets[1] - gets[0] >= 0.29
    await provider.close()


# --- key check, cancel --------------------------------------------------------------------------------------


async def test_roles(fake, provider):
    roles = await asyncio.wait_for(provider.roles(), 5)
    assert roles.roles == ["Posting FBS", "Returns"] and roles.expires_at.year == 2027
    bad = provider_for(fake, api_key="nope")
    with pytest.raises(OzonAuthError):
        await asyncio.wait_for(bad.roles(), 5)
    await bad.close()


async def test_cancel_is_off_by_default(fake, provider):
    with pytest.raises(CancelDisabled):
        await provider.cancel_posting(P1, 352)
    assert fake.count(CANCEL) == 0


async def test_cancel_when_allowed_is_not_retried_after_a_failure(fake):
    provider = provider_for(fake, allow_cancel=True)
    await find(provider, P1)
    fake.fail(CANCEL, server_error())
    with pytest.raises(OzonTransientError):
        await asyncio.wait_for(provider.cancel_posting(P1, 352, "нет на складе"), 5)
    assert fake.count(CANCEL) == 1  # may have been processed: never repeated blindly
    assert await asyncio.wait_for(provider.cancel_posting(P1, 352, "нет на складе"), 5) is True
    assert fake.cancelled[-1] == {"posting_number": P1, "cancel_reason_id": 352,
                                  "cancel_reason_message": "нет на складе"}
    [order] = await find(provider, P1)  # the cached copy was dropped
    assert order.status == "cancelled"
    await provider.close()


async def test_cancel_reasons_are_cached(fake, provider):
    first = await asyncio.wait_for(provider.cancel_reasons(), 5)
    second = await asyncio.wait_for(provider.cancel_reasons(), 5)
    assert first == second and [r.id for r in first] == [506, 352, 401, 402] and fake.count(CANCEL_REASONS) == 1


async def test_a_given_session_is_shared_and_left_open(fake):
    async with aiohttp.ClientSession() as session:
        provider = provider_for(fake, session=session)
        await find(provider, P1)
        await provider.close()
        assert not session.closed


async def test_key_is_sent_only_in_its_header(fake, provider):
    await find(provider, P1)
    assert API_KEY not in str(fake.calls[0].body)


async def test_store_cross_border_marks_rfbs_postings_only(fake):
    """STORE_CROSS_BORDER: the shop ships from abroad, so its rFBS postings are cross-border; FBS
    postings (Ozon's logistics from a Russian warehouse) are not."""
    rfbs = "57195475-0077-1"
    fake.add(sample(rfbs, scheme=Scheme.RFBS))
    provider = provider_for(fake, cross_border=True)
    try:
        (abroad,) = await find(provider, rfbs)
        (domestic,) = await find(provider, P1)
        assert abroad.cross_border and not domestic.cross_border
    finally:
        await provider.close()
