"""Engine figures: turns/s with the in-memory and the SQLite store, p99 turn latency, flow load time.

Run: `make bench` (or `.venv/bin/python bench/engine.py [--chats N] [--in-flight K]`). Both stores
run the same scripted conversations side by side in one process, first one turn at a time, then
with K conversations in flight (as a bot serving many chats does; SQLite then commits turns in
groups). A turn is one buyer event through `App.handle` (store read, engine, rendering, store
write); the conversation is in `script()`. Targets on one core: >= 20,000 turns/s in memory,
>= 8,000 turns/s with SQLite, flows loaded and validated in < 200 ms. Each line also gives turns per
CPU-second (turns over the process's CPU time): on a machine shared with other work the wall-clock
rate falls with the share of a core the bench gets, the CPU rate much less.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import UTC

from bot.app import build_app
from bot.engine.events import Buyer, Command, Press, Start, Text
from bot.engine.loader import load_flows
from bot.i18n.catalogs import Catalogs
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.demo_data import demo_orders
from bot.runtime import tune_gc
from bot.settings import ROOT, Settings
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore


class Clock:
    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


def script(now) -> list:
    """One buyer's conversation: menu, a typed question, an order lookup with phone check, the menu again."""
    order = next(o for key, _, o in demo_orders(now) if key == "delivering_on_time")
    return [Start(), Press("status", "menu"), Text(order.order_number), Text(order.phone_last4),
            Command("menu"), Text("где мой заказ"), Command("agent")]


async def run(app, events, chats: int, in_flight: int = 1, prefix: str = "bench") -> tuple[float, list[float], float]:
    """Each chat plays the script; `in_flight` chats run at once (1 = strictly one turn at a time).
    Returns wall time, per-turn latencies and the process's CPU time (all threads)."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def conversation(buyer: Buyer) -> None:
        async with gate:
            for event in events:
                t0 = time.perf_counter()
                await app.handle(buyer.id, event, buyer)
                latencies.append(time.perf_counter() - t0)

    buyers = [Buyer(f"{prefix}-{i}", "ru") for i in range(chats)]
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(conversation(b) for b in buyers))
    return time.perf_counter() - start, latencies, time.process_time() - cpu


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=1500, help="distinct conversations per store and mode")
    parser.add_argument("--in-flight", type=int, default=100, help="conversations at once in the concurrent mode")
    args = parser.parse_args()

    # Flow loading and validation (catalogs loaded separately, as at start-up).
    catalogs = Catalogs.load(ROOT / "locales")
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        flowset = load_flows(ROOT / "flows", catalogs)
        loads.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    Catalogs.load(ROOT / "locales")
    catalog_load = time.perf_counter() - t0

    from datetime import datetime

    now = datetime.now(UTC)
    events = script(now)
    tune_gc()  # as `ozonbot run` does
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        seed(data / "orders.sqlite3", now=now)
        settings = Settings(data_dir=data, lookups_per_hour=10**6, _env_file=None)  # type: ignore[call-arg]
        for name, store in (("memory", MemoryStore()), ("sqlite", SqliteStore(data / "conversations.sqlite3"))):
            app = build_app(settings, catalogs=catalogs, clock=Clock(now), store=store,
                            orders=DemoOrderProvider(data / "orders.sqlite3"))
            await run(app, events, 50, prefix="warm")
            for mode, in_flight in (("one at a time", 1), (f"{args.in_flight} chats at once", args.in_flight)):
                elapsed, lat, cpu = await run(app, events, args.chats, in_flight, prefix=f"{name}-{in_flight}")
                results[(name, mode)] = (len(lat) / elapsed, pct(lat, 50) * 1e6, pct(lat, 99) * 1e6, len(lat),
                                         cpu / elapsed)
            await app.close()

    print(f"flows: {len(flowset.flows)} loaded and validated in {min(loads) * 1000:.1f} ms (best of 5; "
          f"median {statistics.median(loads) * 1000:.1f} ms); catalogs parsed in {catalog_load * 1000:.1f} ms  "
          "[target < 200 ms]")
    targets = {"memory": 20_000, "sqlite": 8_000}
    for (name, mode), (rate, p50, p99, n, cores) in results.items():
        target = targets[name]
        per_cpu = rate / cores if cores > 0 else float("nan")
        print(f"{name:>6} store, {mode:<20}: {rate:9,.0f} turns/s over {n:,} turns; "
              f"p50 {p50:8.1f} us, p99 {p99:8.1f} us; CPU {cores:.2f} cores, {per_cpu:9,.0f} turns per CPU-second  "
              f"[target >= {target:,}/s: {'met' if rate >= target else 'NOT met'}]")
    for mode in dict.fromkeys(m for _, m in results):
        print(f"ratio sqlite/memory ({mode}): {results[('sqlite', mode)][0] / results[('memory', mode)][0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
