"""Benchmark OzonOrderProvider against the fake Seller API (127.0.0.1 only; stops by itself, < 60 s).

Phase 1: 1,000 concurrent lookups over 100 distinct postings, 20 ms server latency: calls made
(coalescing + cache keep posting reads at <= 100) and lookup latency.
Phase 2: the cache has expired and the server answers 429 (Retry-After: 1) for 5 s while lookups
keep arriving: failed lookups (retries or a stale copy should serve every one) and the most
requests the server saw in any second, against the caps.
Phase 3 (budgets, not waits; before and after side by side, each on its own fake, concurrently):
- the API hangs for 15 s, then recovers; 20 buyers type a posting number in the first 2 s, through
  the conversation service and the real app: when each buyer first hears anything ("checking",
  or the answer), and the answer's time after the recovery. Before: no budget, the old breaker
  (30 s cool-down); after: the defaults (LOOKUP_BUDGET_SECONDS=5, 1 s cool-down doubling to 10 s);
  the Seller API client's defaults otherwise (10 s timeout, 4 retries);
- a 5xx burst of 3 s while lookups arrive every 100 ms: how long after the burst ends the first
  lookup succeeds again (the breaker's recovery), and lookups that failed after the burst.

    .venv/bin/python bench/orders.py [--fbs-get-rps 25] [--skip-budget]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_app, ozon_budget
from bot.conversation.io import Inbound, Reply
from bot.conversation.service import Conversation
from bot.engine.events import Buyer, Text
from bot.orders.errors import OrderBackendUnavailable
from bot.orders.numbers import OrderRef
from bot.orders.ozon import OzonOrderProvider
from bot.settings import Settings
from bot.store.sqlite import SqliteStore
from tests.fake_ozon import FBO_GET, FBS_GET, FakeOzon, rate_limited, sample, server_error, slow

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




# ---- Phase 3: budgets, not waits -----------------------------------------------------------------

HANG_S, BURST_S, BUYERS = 15.0, 3.0, 20
# The breaker as it was: 30 s fixed, and a call meeting it open fails at once
BEFORE = {"breaker_cooldown": 30.0, "breaker_max_cooldown": 30.0, "breaker_wait": 0.0}


class Heard:
    """A channel that notes when the buyer first hears anything and when the turn's answer comes."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.answer: dict[str, tuple[float, str]] = {}

    async def deliver(self, conversation: str, reply: Reply) -> None:
        now = time.perf_counter()
        self.first.setdefault(conversation, now)
        self.answer[conversation] = (now, reply.outgoing[0].text if reply.outgoing else "")

    async def send_text(self, conversation: str, text: str) -> None:
        self.first.setdefault(conversation, time.perf_counter())

    async def send_file(self, conversation: str, filename: str, data: bytes) -> None:
        return None

    async def working(self, conversation: str) -> None:
        return None


def _seeded(fake: FakeOzon) -> FakeOzon:
    for i, number in enumerate(POSTINGS):
        fake.add(sample(number, status=STATUSES[i % len(STATUSES)]))
    return fake


def _settings(data_dir: Path) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]


async def _hanging(data_dir: Path, budget: float, provider_kw: dict, buyers: int = BUYERS,
                   hang: float = HANG_S) -> dict[str, list[float] | int]:
    """Buyers type a posting number while the API hangs; it recovers after `hang` seconds."""
    settings = _settings(data_dir)
    async with FakeOzon() as fake:
        _seeded(fake)
        provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, fbs_get_rps=50.0,
                                     **(ozon_budget(settings) | provider_kw))
        app = build_app(settings, orders=provider, store=SqliteStore(settings.store_path))
        heard = Heard()
        conversation = Conversation(app, heard, budget=budget)
        ask_phone = app.text("lookup.ask_phone", "ru", {"order_number": "@"}).split("@")[0]
        fake.fail_all(slow(3600), seconds=hang)
        start = time.perf_counter()
        recovered = start + hang

        async def buyer(i: int) -> float:
            await asyncio.sleep(i * 2.0 / buyers)
            chat, number = f"b{i}", POSTINGS[i]
            sent = time.perf_counter()
            await conversation.handle(Inbound(chat, Buyer(chat, "ru"), Text(number), "text", number))
            return sent

        sent = await asyncio.gather(*(buyer(i) for i in range(buyers)))
        chats = [f"b{i}" for i in range(buyers)]
        result: dict[str, list[float] | int] = {
            "first": [heard.first[c] - s for c, s in zip(chats, sent, strict=True)],
            "answer": [heard.answer[c][0] - recovered for c in chats],
            "found": sum(heard.answer[c][1].startswith(ask_phone) for c in chats),
        }
        await app.close()
        return result


async def _burst(provider_kw: dict) -> tuple[float | None, int, int]:
    """A 5xx burst while lookups arrive every 100 ms: (seconds from its end to the first lookup that
    succeeds, lookups that failed after the end, lookups after the end)."""
    async with FakeOzon() as fake:
        _seeded(fake)
        provider = OzonOrderProvider(fake.client_id, fake.api_key, base_url=fake.url, fbs_get_rps=50.0,
                                     cache_ttl=0.001, **(ozon_budget(Settings(_env_file=None)) | provider_kw))  # type: ignore[call-arg]
        fake.fail_all(server_error(), seconds=BURST_S)
        end = time.perf_counter() + BURST_S
        ok_after: list[float] = []
        failed_after = after = 0

        async def lookup(i: int) -> None:
            nonlocal failed_after, after
            await asyncio.sleep(i * 0.1)
            try:
                await provider.find(ref(POSTINGS[i % len(POSTINGS)]))
                done = time.perf_counter()
                if done > end:
                    ok_after.append(done - end)
                    after += 1
            except OrderBackendUnavailable:
                if time.perf_counter() > end:
                    failed_after += 1
                    after += 1

        await asyncio.gather(*(lookup(i) for i in range(int((BURST_S + 35) / 0.1))))
        await provider.close()
        return (min(ok_after) if ok_after else None), failed_after, after


async def budget_phases() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"phase 3: the API hangs {HANG_S:g} s, then recovers; {BUYERS} buyers type a posting number in "
              f"the first 2 s (conversation service + app + SQLite); one buyer alone while it hangs for good; "
              f"a {BURST_S:g} s 5xx burst with a lookup every 100 ms. Before and after side by side (~60 s)...",
              flush=True)
        (before, after, lone_before, lone_after, (b_rec, b_failed, b_after), (a_rec, a_failed, a_after)) = \
            await asyncio.gather(
                _hanging(Path(tmp) / "before", 0.0, BEFORE), _hanging(Path(tmp) / "after", 5.0, {}),
                _hanging(Path(tmp) / "lone-before", 0.0, BEFORE, buyers=1, hang=3600),
                _hanging(Path(tmp) / "lone-after", 5.0, {}, buyers=1, hang=3600),
                _burst(BEFORE), _burst({}))

    def q(samples) -> str:
        cuts = statistics.quantiles(samples, n=100)
        return f"p50 {statistics.median(samples):5.1f} s, p99 {cuts[98]:5.1f} s"

    def row(what: str, left: str, right: str, note: str = "") -> None:
        print(f"  {what:48} {left:34} {right}{note}")

    row("", "before (no budget, 30 s breaker)", "after (5 s budget, probing breaker)")
    row("buyer first hears anything, after sending", q(before["first"]), q(after["first"]), "  <- 'checking'")
    row("their final answer, after the API recovered", q(before["answer"]), q(after["answer"]),
        "  (< 0: before it)")
    row("final answers with the order (not unavailable)", f"{before['found']} of {BUYERS}",
        f"{after['found']} of {BUYERS}")
    row("one buyer alone, API hangs for good: first hears",
        f"{lone_before['first'][0]:.1f} s", f"{lone_after['first'][0]:.1f} s")  # type: ignore[index]
    row("  ... and the final 'unavailable' answer",
        f"{lone_before['answer'][0] + 3600:.1f} s", f"{lone_after['answer'][0] + 3600:.1f} s")  # type: ignore[index]

    def rec(seconds: float | None) -> str:
        return f"{seconds:.1f} s" if seconds is not None else "none within 35 s"

    row("5xx burst ended -> first lookup served", rec(b_rec), rec(a_rec))
    row("lookups failed after the burst ended", f"{b_failed} of {b_after}", f"{a_failed} of {a_after}")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fbs-get-rps", type=float, default=25.0,
                        help="cap on /v3/posting/fbs/get (production default 2; 25 keeps the bench short)")
    parser.add_argument("--global-rps", type=float, default=50.0)
    parser.add_argument("--skip-budget", action="store_true", help="skip phase 3 (about 60 s)")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(args.fbs_get_rps, args.global_rps), 55))
    if not args.skip_budget:
        asyncio.run(asyncio.wait_for(budget_phases(), 150))
