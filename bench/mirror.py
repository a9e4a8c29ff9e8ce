"""Benchmark the order mirror against a fake Seller API that enforces Ozon's caps as Ozon counts them
(by arrival, strict 1-second windows: 2 rps on /v3/posting/fbs/get, 50 rps overall; 429 above).
127.0.0.1 only; stops by itself.

Part 1, issue 13's figures: a 2,000-posting shop; N buyers (default 300) arrive at once, each types
an order or posting number, then the last 4 phone digits, through the real App (engine, flows,
ownership check, in-memory conversation store). Side by side:
  - before: the Seller API provider as on main (slots reserved ahead in the rate limiter, returns
    read for every delivered or cancelled posting);
  - paced: the same provider with this branch's pacing (grants stamped when they leave), no mirror;
  - mirror: the order mirror synced (baseline), then 100 postings move at Ozon and their
    TYPE_STATE_CHANGED pushes go through the real push endpoint before the buyers arrive.
Printed: p50/p99 of the time to the bot's answer (each turn that reads the order), 429s received,
answers that disagree with the shop's data at the moment of the answer, API calls per 1,000 lookups.

Part 2: the push endpoint at 200 requests/s (SQLite store, the worker applying pushes meanwhile):
ack latency p50/p99 as the sender sees it.

Part 3: duplicates and reordering: 3 state changes for each of 200 postings, each push sent 1-3
times, all shuffled; then a sync. Printed: changes per (posting, event) (must be exactly 1), stale
pushes dropped, postings whose final state differs from Ozon's, changes the sync added (must be 0).

    .venv/bin/python bench/mirror.py [--buyers 300] [--skip-before]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bot.app import build_app
from bot.engine.events import Buyer, Press, Start, Text
from bot.i18n.catalogs import Catalogs
from bot.orders.mirror.mirror import Mirror
from bot.orders.mirror.source import OzonSource
from bot.orders.model import Money, Order, Product, ReturnInfo, Scheme
from bot.orders.numbers import OrderRef
from bot.orders.ozon import OzonOrderProvider
from bot.orders.ozon import ratelimit as pacing
from bot.push.endpoint import PushEndpoint, push_path
from bot.push.service import MirrorService
from bot.settings import ROOT, Settings
from bot.store.memory import MemoryStore
from bot.store.mirror_sqlite import SqliteMirrorStore
from tests.fake_ozon import FBS_GET, FakeOzon

SHOP = 2000
CAPS = {FBS_GET: 2}
GLOBAL_CAP = 50
SECRET = "bench-secret"
NOW = datetime.now(UTC)
buyer_var: contextvars.ContextVar[str] = contextvars.ContextVar("buyer", default="")


# --- the shop ---------------------------------------------------------------------------------------

def shop() -> list[Order]:
    rnd = random.Random(13)
    out: list[Order] = []
    i = 0
    while len(out) < SHOP:
        order_number = f"{47000000 + i:08d}-{(i * 7) % 10000:04d}"
        postings = 2 if i % 10 == 0 else 1
        for k in range(1, postings + 1):
            scheme = Scheme.FBO if i % 10 == 9 else Scheme.RFBS if i % 10 == 8 else Scheme.FBS
            status = rnd.choice(["awaiting_packaging", "awaiting_deliver", "delivering", "delivering", "delivered",
                                 "cancelled"] if scheme is not Scheme.FBO else ["awaiting_deliver", "delivering",
                                                                                "delivered"])
            created = NOW - timedelta(days=rnd.uniform(1, 25))
            returns = ([ReturnInfo(id=100000 + len(out), status="MoneyReturned", reason="Брак", created_at=created)]
                       if status == "delivered" and rnd.random() < 0.1 else [])
            out.append(Order(
                posting_number=f"{order_number}-{k}", order_number=order_number, scheme=scheme, status=status,
                substatus={"delivering": "posting_on_way_to_city", "delivered": "posting_received"}.get(status, ""),
                created_at=created, in_process_at=created, shipment_date=created + timedelta(days=2),
                delivery_date_begin=created + timedelta(days=4), delivery_date_end=created + timedelta(days=6),
                tracking_number="0112233445566", delivery_method="Ozon Логистика, Москва", city="Москва",
                tpl_integration_type="non_integrated" if scheme is Scheme.RFBS else "ozon",
                products=[Product(name=f"Товар {i % 40}", sku=1_600_000_000 + i, offer_id=f"A-{i}", quantity=1,
                                  price=Money(amount=Decimal("990.00")))],
                returns=returns, phone_last4=f"{(i * 37) % 10000:04d}",
                phone_digits=f"916{i % 1000:03d}{(i * 37) % 10000:04d}",
                related_postings=[f"{order_number}-{j}" for j in range(1, postings + 1) if j != k]))
        i += 1
    return out


# --- main's pacing, for the "before" row -------------------------------------------------------------

class ReservingLimiter(pacing.WindowLimiter):
    """main's WindowLimiter: each caller reserves its slot ahead and sleeps until it (headroom 0.05 s)."""

    async def acquire(self) -> None:
        now = self._clock()
        slot = max(now, self._not_before)
        if len(self._grants) == self._grants.maxlen:
            slot = max(slot, self._grants[0] + self._window)
        self._grants.append(slot)
        if slot > now:
            await self._sleep(slot - now)


class ReservingLimits(pacing.RateLimits):
    def __init__(self, global_rps: float, per_path: dict[str, float]) -> None:
        self.global_ = ReservingLimiter(int(global_rps), 1.05)
        self.paths = {p: ReservingLimiter(int(r), 1.05) for p, r in per_path.items()}

    async def acquire(self, path: str) -> None:
        if path in self.paths:
            await self.paths[path].acquire()
        await self.global_.acquire()


# --- buyers through the real App ----------------------------------------------------------------------

class Recorder:
    """The order provider as the app sees it, recording what each buyer's last lookup returned."""

    def __init__(self, inner) -> None:
        self.inner, self.finds = inner, 0
        self.last: dict[str, list[Order]] = {}

    async def find(self, ref: OrderRef) -> list[Order]:
        found = await self.inner.find(ref)
        self.finds += 1
        self.last[buyer_var.get()] = found
        return found

    async def close(self) -> None:
        await self.inner.close()


async def drained(mirror: Mirror) -> None:
    """Until the push worker has processed every stored push (30 s at most)."""
    for _ in range(3000):
        if not await mirror.store.pending_pushes():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("pushes still pending after 30 s")


async def post(http: aiohttp.ClientSession, url: str, body: str) -> int:
    async with http.post(url, data=body) as resp:
        await resp.read()
        return resp.status


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.1f} s"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def buyers(orders, fake: FakeOzon, targets: list[tuple[str, Order]], catalogs: Catalogs, data: Path) -> dict:
    settings = Settings(data_dir=data, lookups_per_hour=10**6, owner_wrong_per_day=10**6,
                        _env_file=None)  # type: ignore[call-arg]
    recorder = Recorder(orders)
    app = build_app(settings, orders=recorder, store=MemoryStore(), catalogs=catalogs)
    turns: list[float] = []
    answers: list[float] = []
    disagree = 0
    nonlocal_found: list[str] = []

    async def one(i: int, typed: str, order: Order) -> None:
        nonlocal disagree
        buyer = Buyer(f"b{i}", "ru")
        buyer_var.set(buyer.id)
        await app.handle(buyer.id, Start(), buyer)
        await app.handle(buyer.id, Press("status", "menu"), buyer)
        total = 0.0
        for text in (typed, order.phone_last4 or "0000"):
            t0 = time.perf_counter()
            await app.handle(buyer.id, Text(text), buyer)
            turns.append(time.perf_counter() - t0)
            total += turns[-1]
        answers.append(total)
        found = recorder.last.get(buyer.id, [])
        if any(o.posting_number == order.posting_number for o in found):
            nonlocal_found.append(buyer.id)
        for got in found:  # what the bot answered from, against Ozon's data now
            _, raw = fake.postings[got.posting_number]
            if (got.status, got.substatus) != (raw["status"], raw["substatus"]):
                disagree += 1

    fake.calls.clear()
    fake.rejected.clear()
    start = time.perf_counter()
    await asyncio.gather(*(one(i, typed, order) for i, (typed, order) in enumerate(targets)))
    wall = time.perf_counter() - start
    calls = fake.count()
    return {"p50_turn": pct(turns, 50), "p99_turn": pct(turns, 99), "p50_answer": pct(answers, 50),
            "p99_answer": pct(answers, 99), "max_answer": max(answers), "429": len(fake.rejected),
            "disagree": disagree, "found": len(nonlocal_found), "calls": calls, "lookups": recorder.finds,
            "per_1000": calls * 1000 / max(recorder.finds, 1), "wall": wall,
            "by_path": Counter(c.path for c in fake.calls)}


async def part1(n_buyers: int, skip_before: bool) -> None:
    catalogs = Catalogs.load(ROOT / "locales")
    orders = shop()
    rnd = random.Random(7)
    with_phone = [o for o in orders if o.scheme is not Scheme.FBO]
    picks = rnd.sample(with_phone, n_buyers)
    targets = [((o.order_number if i % 2 else o.posting_number), o) for i, o in enumerate(picks)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for name in (["before", "paced"] if not skip_before else []) + ["mirror"]:
            async with FakeOzon(caps=CAPS, global_cap=GLOBAL_CAP) as fake:
                for o in orders:
                    fake.add(o, changed_at=o.created_at)
                provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, fbs_get_rps=2,
                                             read_returns=name != "mirror")
                if name == "before":
                    provider.client.limits = ReservingLimits(50, {FBS_GET: 2})
                if name != "mirror":
                    rows[name] = await buyers(provider, fake, targets, catalogs, data / name)
                    await provider.close()
                    continue
                mirror = Mirror(SqliteMirrorStore(data / "mirror.sqlite3"), OzonSource(provider), upstream=provider)
                t0 = time.perf_counter()
                report = await mirror.sync()
                sync_s, sync_calls = time.perf_counter() - t0, fake.count()
                endpoint = PushEndpoint(mirror.store, SECRET)
                service = MirrorService(mirror, sync_every=3600, endpoint=endpoint, listen=("127.0.0.1", 0))
                await service.start()
                moved = rnd.sample([o for _, o in targets if o.status == "delivering"], 50) + \
                    rnd.sample([o for o in with_phone if o.status == "awaiting_deliver"], 50)
                async with aiohttp.ClientSession() as http:
                    for o in moved:
                        state = "posting_in_pickup_point" if o.status == "delivering" else "posting_on_way_to_city"
                        fake.move(o.posting_number, status="delivering", substatus=state)
                        body = {"message_type": "TYPE_STATE_CHANGED", "posting_number": o.posting_number,
                                "new_state": state, "changed_state_date": datetime.now(UTC).isoformat(),
                                "warehouse_id": 0, "seller_id": 15}
                        async with http.post(f"http://127.0.0.1:{service.port}{push_path(SECRET)}", json=body) as resp:
                            assert resp.status == 200
                await drained(mirror)
                fake.calls.clear()
                t0 = time.perf_counter()
                incremental = await mirror.sync()
                inc_s, inc_calls = time.perf_counter() - t0, fake.count()
                rows[name] = await buyers(mirror, fake, targets, catalogs, data / name)
                await service.stop()
                await mirror.close()
    print(f"part 1: {SHOP:,}-posting shop, {n_buyers} buyers at once (half type the order number, half the "
          f"posting number), fake Seller API enforcing {CAPS[FBS_GET]} rps fbs/get and {GLOBAL_CAP} rps overall "
          "by arrival (429 above)")
    print(f"  mirror baseline sync: {report.read} postings in {sync_s:.2f} s, {sync_calls} API calls; "
          f"an incremental sync after 100 moves: {incremental.read} postings read, {inc_calls} calls, "
          f"{inc_s * 1000:.0f} ms")
    print(f"  {'':8} {'answer p50':>11} {'p99':>8} {'max':>8} {'turn p50':>9} {'p99':>8} {'429s':>5} "
          f"{'disagree':>9} {'found':>6} {'lookups':>8} {'calls/1000 lookups':>19}  calls by method")
    for name, r in rows.items():
        methods = ", ".join(f"{p} {n}" for p, n in r["by_path"].most_common())
        print(f"  {name:8} {fmt(r['p50_answer']):>11} {fmt(r['p99_answer']):>8} {fmt(r['max_answer']):>8} "
              f"{fmt(r['p50_turn']):>9} {fmt(r['p99_turn']):>8} {r['429']:>5} {r['disagree']:>9} {r['found']:>6} "
              f"{r['lookups']:>8} "
              f"{r['per_1000']:>19.1f}  {methods or '-'}")


# --- part 2: push ack latency at 200 requests/s ----------------------------------------------------------

async def part2(rate: int = 200, seconds: float = 5.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeOzon() as fake:
            orders = shop()[:500]
            for o in orders:
                fake.add(o, changed_at=o.created_at)
            provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, read_returns=False)
            mirror = Mirror(SqliteMirrorStore(Path(tmp) / "m.sqlite3"), OzonSource(provider), upstream=provider)
            await mirror.sync()
            service = MirrorService(mirror, sync_every=3600, endpoint=PushEndpoint(mirror.store, SECRET),
                                    listen=("127.0.0.1", 0))
            await service.start()
            url = f"http://127.0.0.1:{service.port}{push_path(SECRET)}"
            latencies: list[float] = []
            statuses: Counter[int] = Counter()
            rnd = random.Random(2)

            async def send(http: aiohttp.ClientSession, i: int) -> None:
                o = rnd.choice(orders)
                body = {"message_type": "TYPE_STATE_CHANGED", "posting_number": o.posting_number,
                        "new_state": rnd.choice(["posting_on_way_to_city", "posting_in_pickup_point"]),
                        "changed_state_date": (NOW + timedelta(seconds=i)).isoformat(), "seller_id": 15}
                t0 = time.perf_counter()
                async with http.post(url, data=json.dumps(body)) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                latencies.append(time.perf_counter() - t0)

            total = int(rate * seconds)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
                start = time.perf_counter()
                tasks = []
                for i in range(total):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(send(http, i)))
                await asyncio.gather(*tasks)
                wall = time.perf_counter() - start
            await drained(mirror)
            processed_at = time.perf_counter() - start
            await service.stop()
            await mirror.close()
    print(f"part 2: push endpoint, {total} TYPE_STATE_CHANGED at {rate}/s offered ({total / wall:.0f}/s achieved), "
          f"SQLite store, worker applying meanwhile: ack p50 {pct(latencies, 50) * 1000:.1f} ms, "
          f"p99 {pct(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
          f"HTTP {dict(statuses)}; all applied {processed_at:.2f} s after the first")


# --- part 3: duplicates and reordering --------------------------------------------------------------------

async def part3(postings: int = 200) -> None:
    states = ["posting_transferring_to_delivery", "posting_on_way_to_city", "posting_in_pickup_point"]
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeOzon() as fake:
            orders = [o.model_copy(update={"status": "awaiting_packaging", "substatus": "posting_created",
                                           "shipment_date": NOW + timedelta(days=1),
                                           "delivery_date_end": NOW + timedelta(days=5)})
                      for o in shop() if o.scheme is not Scheme.FBO][:postings]
            for o in orders:
                fake.add(o, changed_at=NOW - timedelta(hours=1))
            provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, read_returns=False)
            changes = []

            async def sink(batch) -> None:
                changes.extend(batch)

            mirror = Mirror(SqliteMirrorStore(Path(tmp) / "m.sqlite3"), OzonSource(provider), upstream=provider,
                            sinks=[sink])
            await mirror.sync()
            service = MirrorService(mirror, sync_every=3600, endpoint=PushEndpoint(mirror.store, SECRET),
                                    listen=("127.0.0.1", 0))
            await service.start()
            rnd = random.Random(3)
            bodies = []
            for o in orders:
                for k, state in enumerate(states):
                    body = json.dumps({"message_type": "TYPE_STATE_CHANGED", "posting_number": o.posting_number,
                                       "new_state": state, "changed_state_date":
                                       (NOW + timedelta(minutes=k + 1)).isoformat(), "warehouse_id": 0,
                                       "seller_id": 15})
                    bodies += [body] * rnd.randint(1, 3)
                status = "awaiting_deliver" if states[-1] == "posting_transferring_to_delivery" else "delivering"
                fake.move(o.posting_number, status=status, substatus=states[-1], changed_at=NOW + timedelta(minutes=3))
            rnd.shuffle(bodies)
            url = f"http://127.0.0.1:{service.port}{push_path(SECRET)}"
            async with aiohttp.ClientSession() as http:
                for i in range(0, len(bodies), 50):  # in bursts, as Ozon's senders do
                    assert set(await asyncio.gather(*(post(http, url, b) for b in bodies[i:i + 50]))) == {200}
            await drained(mirror)
            pushed = len(changes)
            per_event = Counter(c.key for c in changes)
            wrong_final = 0
            for o in orders:
                held = (await mirror.store.get([o.posting_number]))[o.posting_number].order
                wrong_final += held.substatus != states[-1]
            report = await mirror.sync()  # Ozon's data now shows the same final states
            await service.stop()
            await mirror.close()
    distinct = len({json.loads(b)["posting_number"] + json.loads(b)["new_state"] for b in bodies})
    print(f"part 3: {len(bodies)} pushes ({distinct} distinct state changes of {postings} postings, each sent "
          f"1-3 times, shuffled): {pushed} changes, at most {max(per_event.values())} per (posting, event) "
          f"(duplicates: {sum(n - 1 for n in per_event.values())}); {distinct - pushed} state changes superseded "
          f"by a later one that arrived first (dropped as stale); postings not in their latest state: {wrong_final}; "
          f"changes the following sync added: {report.changes}")


async def main(args) -> None:
    await part1(args.buyers, args.skip_before)
    await part2()
    await part3()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--skip-before", action="store_true", help="only the mirror (the others take minutes)")
    parser.add_argument("--part", type=int, choices=[1, 2, 3], help="run one part only")
    a = parser.parse_args()
    if a.part:
        asyncio.run({1: lambda: part1(a.buyers, a.skip_before), 2: part2, 3: part3}[a.part]())
    else:
        asyncio.run(main(a))
