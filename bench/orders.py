"""Benchmark OzonOrderProvider against the fake Seller API (127.0.0.1 only; stops by itself, < 60 s).

Phase 1: 1,000 concurrent lookups over 100 distinct postings, 20 ms server latency: calls made
(coalescing + cache keep posting reads at <= 100) and lookup latency.
Phase 2: the cache has expired and the server answers 429 (Retry-After: 1) for 5 s while lookups
keep arriving: failed lookups (retries or a stale copy should serve every one) and the most
requests the server saw in any second, against the caps.

    .venv/bin/python bench/orders.py [--fbs-get-rps 25]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.orders.numbers import OrderRef
from bot.orders.ozon import OzonOrderProvider
from tests.fake_ozon import FBO_GET, FBS_GET, FakeOzon, rate_limited, sample

POSTINGS = [f"{40000000 + i}-{1000 + i:04d}-1" for i in range(100)]
STATUSES = ["delivering", "awaiting_packaging", "awaiting_deliver", "delivered", "driver_pickup"]
CACHE_TTL = 2.0


def ref(number: str) -> OrderRef:
    return OrderRef(number.rsplit("-", 1)[0], number)


async def timed(provider: OzonOrderProvider, number: str, delay: float = 0.0) -> tuple[float, object]:
    await asyncio.sleep(delay)
    start = time.perf_counter()
    try:
        result: object = await asyncio.wait_for(provider.find(ref(number)), 20)
    except Exception as exc:  # noqa: BLE001 - counted as a failed lookup
        result = exc
    return time.perf_counter() - start, result


def latency_line(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples) * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms"


async def main(fbs_get_rps: float, global_rps: float) -> None:
    rnd = random.Random(5)
    async with FakeOzon(latency=0.02) as fake:
        for i, number in enumerate(POSTINGS):
            fake.add(sample(number, status=STATUSES[i % len(STATUSES)]))
        provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, cache_ttl=CACHE_TTL,
                                     fbs_get_rps=fbs_get_rps, global_rps=global_rps)
        print(f"caps: /v3/posting/fbs/get {fbs_get_rps:g} rps, all methods {global_rps:g} rps; "
              f"server latency 20 ms; cache ttl {CACHE_TTL:g} s")

        lookups = [rnd.choice(POSTINGS) for _ in range(1000)]
        start = time.perf_counter()
        results = await asyncio.gather(*(timed(provider, n) for n in lookups))
        wall = time.perf_counter() - start
        gets = fake.count(FBS_GET) + fake.count(FBO_GET)
        print(f"phase 1: {len(lookups)} concurrent lookups over {len(set(lookups))} postings in {wall:.2f} s")
        print(f"  posting reads made: {gets} (<= 100), all API calls: {fake.count()} "
              f"(the rest: returns of delivered postings)")
        print(f"  failed lookups: {sum(isinstance(r, Exception) for _, r in results)}; "
              f"latency {latency_line([t for t, _ in results])}")
        print(f"  max requests/s at the server: fbs/get {fake.max_rps(FBS_GET)}, all {fake.max_rps()}")

        await asyncio.sleep(CACHE_TTL + 0.1)  # every cached copy is now stale
        fake.calls.clear()
        phase_start = datetime.now(UTC)
        fake.fail_all(rate_limited(retry_after=1), seconds=5)
        start = time.perf_counter()
        results = await asyncio.gather(*(timed(provider, rnd.choice(POSTINGS), rnd.uniform(0, 6)) for _ in range(1000)))
        wall = time.perf_counter() - start
        failed = [r for _, r in results if isinstance(r, Exception)]
        stale = sum(1 for _, r in results if isinstance(r, list) and r and r[0].fetched_at < phase_start)
        print(f"phase 2: 429 (Retry-After: 1) for 5 s; 1000 lookups arriving over 6 s, done in {wall:.2f} s")
        print(f"  failed lookups: {len(failed)}; served from a stale copy: {stale}; "
              f"fresh: {1000 - len(failed) - stale}")
        in_window = sum(1 for c in fake.calls if c.at < fake.calls[0].at + 5)
        print(f"  requests during the phase: {fake.count()} ({in_window} in the 429 window); "
              f"latency {latency_line([t for t, _ in results])}")
        print(f"  max requests/s at the server: fbs/get {fake.max_rps(FBS_GET)} (cap {int(fbs_get_rps)}), "
              f"all {fake.max_rps()} (cap {int(global_rps)})")
        await provider.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fbs-get-rps", type=float, default=25.0,
                        help="cap on /v3/posting/fbs/get (production default 2; 25 keeps the bench short)")
    parser.add_argument("--global-rps", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(args.fbs_get_rps, args.global_rps), 55))
