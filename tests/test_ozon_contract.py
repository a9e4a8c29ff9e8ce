"""One OrderProvider contract, run against the demo provider and the Ozon provider on the fake API.

Both are seeded with the same demo orders, so both must return the same postings.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.demo_data import demo_orders
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.mirror.demo_source import DemoSource
from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.source import OzonSource
from bot.orders.mirror.store import MemoryMirrorStore
from bot.orders.model import Order, Scheme
from bot.orders.numbers import OrderRef
from bot.orders.provider import OrderProvider
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import FakeOzon, provider_for, server_error

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ORDERS = [order for _, _, order in demo_orders(NOW)]
# Fields neither API returns the same way: FBS has no created_at, nothing gives status_changed_at.
# delivered_at: the API has no "received by the buyer" moment; cross_border: the shop's setting
# (STORE_CROSS_BORDER), not a field of the posting.
NOT_COMPARED = {"created_at", "status_changed_at", "fetched_at", "delivered_at", "cross_border"}


def comparable(order: Order) -> dict:
    # FBO postings carry no customer data in the API; some demo FBO rows have a phone anyway.
    no_phone = {"phone_last4", "phone_digits"} if order.scheme is Scheme.FBO else set()
    return order.model_dump(exclude=NOT_COMPARED | no_phone)


def posting(order: Order) -> OrderRef:
    return OrderRef(order.order_number, order.posting_number)


async def find(provider: OrderProvider, ref: OrderRef) -> list[Order]:
    return await asyncio.wait_for(provider.find(ref), 5)


class ProviderContract:
    """Subclasses define the `provider` and `unavailable` fixtures."""

    def test_is_an_order_provider(self, provider):
        assert isinstance(provider, OrderProvider)

    @pytest.mark.parametrize("order", ORDERS, ids=[o.posting_number for o in ORDERS])
    async def test_found_by_posting_number(self, provider, order):
        found = await find(provider, posting(order))
        assert [comparable(o) for o in found] == [comparable(order)]

    async def test_found_by_order_number_with_several_postings(self, provider):
        multi = [o for o in ORDERS if o.related_postings]
        assert len(multi) == 2
        found = await find(provider, OrderRef(multi[0].order_number))
        assert [comparable(o) for o in found] == [comparable(o) for o in sorted(multi, key=lambda o: o.posting_number)]

    @pytest.mark.parametrize("scheme", list(Scheme))
    async def test_found_by_order_number_in_every_scheme(self, provider, scheme):
        order = next(o for o in ORDERS if o.scheme is scheme and not o.related_postings)
        found = await find(provider, OrderRef(order.order_number))
        assert [o.posting_number for o in found] == [order.posting_number]

    async def test_not_found_is_an_empty_list(self, provider):
        assert await find(provider, OrderRef("99999999-9999", "99999999-9999-1")) == []
        assert await find(provider, OrderRef("99999999-9999")) == []
        known = ORDERS[0]
        assert await find(provider, OrderRef(known.order_number, known.order_number + "-9")) == []

    async def test_unavailable_raises_order_backend_unavailable(self, unavailable):
        with pytest.raises(OrderBackendUnavailable):
            await find(unavailable, posting(ORDERS[0]))


class TestDemoProvider(ProviderContract):
    @pytest.fixture
    async def provider(self, tmp_path):
        path = tmp_path / "orders.db"
        seed(path, NOW)
        p = DemoOrderProvider(path)
        yield p
        await p.close()

    @pytest.fixture
    async def unavailable(self, tmp_path):
        """Its 'backend' is a file: one that became unreadable (here, not a database any more)."""
        path = tmp_path / "orders.db"
        seed(path, NOW)
        p = DemoOrderProvider(path)
        path.write_bytes(b"this is not an SQLite database" * 100)
        yield p
        await p.close()


class TestOzonProvider(ProviderContract):
    @pytest.fixture
    async def fake(self):
        async with FakeOzon() as server:
            for order in ORDERS:
                server.add(order)
            yield server

    @pytest.fixture
    async def provider(self, fake):
        p = provider_for(fake)
        yield p
        await p.close()

    @pytest.fixture
    async def unavailable(self, fake):
        fake.fail_all(server_error(503))
        p = provider_for(fake, max_retries=1)
        yield p
        await p.close()


class TestMirrorOverOzon(ProviderContract):
    """The order mirror, synced from the fake Seller API: lookups come from its copy (returns from the
    returns sync, not from one call per posting)."""

    @pytest.fixture
    async def fake(self):
        async with FakeOzon() as server:
            for order in ORDERS:
                server.add(order)
            yield server

    @pytest.fixture
    async def provider(self, fake, tmp_path):
        p = provider_for(fake, read_returns=False)
        mirror = Mirror(SqliteMirrorStore(tmp_path / "m.sqlite3"), OzonSource(p), upstream=p, sync_days=364)
        await mirror.sync()
        yield mirror
        await mirror.close()

    @pytest.fixture
    async def unavailable(self, fake):
        fake.fail_all(server_error(503))
        p = provider_for(fake, max_retries=1)
        mirror = Mirror(MemoryMirrorStore(), OzonSource(p), upstream=p)
        yield mirror
        await mirror.close()


class TestMirrorOverDemo(ProviderContract):
    @pytest.fixture
    async def provider(self, tmp_path):
        path = tmp_path / "orders.db"
        seed(path, NOW)
        mirror = Mirror(MemoryMirrorStore(), DemoSource(DemoOrderProvider(path)), sync_days=364)
        await mirror.sync()
        yield mirror
        await mirror.close()

    @pytest.fixture
    async def unavailable(self, tmp_path):
        path = tmp_path / "orders.db"
        seed(path, NOW)
        mirror = Mirror(MemoryMirrorStore(), DemoSource(DemoOrderProvider(path)))
        path.write_bytes(b"this is not an SQLite database" * 100)
        yield mirror
        await mirror.close()
