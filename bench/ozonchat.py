"""Benchmark the Ozon chat front end against the fake Ozon chat API (127.0.0.1 only; < 3 min).

The real app (demo orders, SQLite store in a temporary directory), the real adapter, the Seller
API caps in force (50 requests/s per Client-Id, shared by every chat method), 20 ms server latency;
the fake server runs on its own thread and loop, so it records when requests reach it.
Each buyer message costs the chat API: one /v3/chat/history the first time a chat is seen (its
order), one /v1/chat/send/message per reply and one /v2/chat/read per batch handled in a chat.

Phase 1 (latency): buyers' pushes arrive steadily (`--rate` new chats a second, then a second
message from each), each answered by the bot: push -> first reply arriving at the server, p50/p99.
Phase 2 (burst): 1,000 buyer chats push at once: the most requests the server saw in any second
(the cap is 50), how long until every chat had its first reply, and the first-reply latencies.

    .venv/bin/python bench/ozonchat.py [--rate 10] [--seconds 20] [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bot.app import build_app
from bot.orders.demo import DemoOrderProvider, seed
from bot.orders.ozon.client import OzonClient
from bot.orders.ozon.ratelimit import RateLimits
from bot.ozonchat.adapter import OzonChatAdapter
from bot.ozonchat.api import OzonChatApi
from bot.settings import Settings
from bot.store.sqlite import SqliteStore
from tests.fake_ozon_chat import FakeOzonChat, max_per_second

LATENCY = 0.02
MESSAGES = ["Здравствуйте", "где мой заказ?", "1", "你好", "хочу отменить заказ", "спасибо"]


def quantiles(samples: list[float]) -> str:
    if len(samples) < 2:
        return "n/a"
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return (f"p50 {statistics.median(samples) * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms, "
            f"max {max(samples) * 1000:.0f} ms")


@contextlib.contextmanager
def in_own_thread(fake: FakeOzonChat) -> Iterator[FakeOzonChat]:
    """The fake server on an event loop of its own: the times it records are when requests reach it,
    not when the bot's busy loop got round to serving them."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-ozon-chat", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class Timer:
    """Push time per chat -> the moment the first reply reached the server."""

    def __init__(self) -> None:
        self.pushed: dict[str, float] = {}
        self.first: dict[str, float] = {}

    def on_send(self, chat_id: str, text: str) -> None:
        if chat_id in self.pushed and chat_id not in self.first:
            self.first[chat_id] = time.perf_counter() - self.pushed[chat_id]

    def push(self, chat_id: str) -> None:
        self.pushed[chat_id] = time.perf_counter()
        self.first.pop(chat_id, None)


async def phase(fake: FakeOzonChat, adapter: OzonChatAdapter, timer: Timer, chats: list[str], rate: float,
                text_of) -> list[float]:
    """Push one message per chat at `rate` a second (0: all at once); first-reply latencies."""
    interval = 1.0 / rate if rate else 0.0
    start = time.perf_counter()
    for i, chat in enumerate(chats):
        if interval:
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
        timer.push(chat)
        await adapter.handle_push(fake.buyer_writes(chat, text_of(i)))
    await adapter.drain()
    return [timer.first[c] for c in chats if c in timer.first]


async def main(rate: float, seconds: float, burst: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="ozonbot-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        seed(settings.demo_orders_path)
        app = build_app(settings, orders=DemoOrderProvider(settings.demo_orders_path),
                        store=SqliteStore(settings.store_path))
        with in_own_thread(FakeOzonChat(latency=LATENCY)) as fake:
            timer = Timer()
            fake.on_send.append(timer.on_send)
            sent_at: list[float] = []  # when each request's headers left for the server (aiohttp trace)

            async def on_sent(session, ctx, params) -> None:  # aiohttp trace signature
                sent_at.append(time.monotonic())

            trace = aiohttp.TraceConfig()
            trace.on_request_headers_sent.append(on_sent)
            http = aiohttp.ClientSession(trace_configs=[trace])
            api = OzonChatApi(OzonClient(fake.client_id, fake.api_key, base_url=fake.url, limits=RateLimits(50.0),
                                         session=http))
            adapter = OzonChatAdapter(app, api)
            print(f"caps: 50 requests/s per Client-Id (all chat methods); server latency {LATENCY * 1000:.0f} ms")

            chats = [f"steady-{i}" for i in range(int(rate * seconds))]
            cpu0, t0 = time.process_time(), time.perf_counter()
            first = await phase(fake, adapter, timer, chats, rate, lambda i: MESSAGES[i % len(MESSAGES)])
            second = await phase(fake, adapter, timer, chats, rate, lambda i: "1")
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            print(f"phase 1: {len(chats)} chats at {rate:g} new chats/s, then a second message each "
                  f"({2 * len(chats)} messages in {wall:.1f} s)")
            print(f"  push -> first reply, new chat: {quantiles(first)}")
            print(f"  push -> first reply, known chat: {quantiles(second)}")
            print(f"  answered: {len(first)}/{len(chats)} and {len(second)}/{len(chats)}; "
                  f"max requests/s sent {max_per_second(sent_at)}, at the server {fake.max_per_second()} (cap 50); "
                  f"CPU {cpu / (2 * len(chats)) * 1000:.1f} ms a message")

            fake.calls.clear()
            sent_at.clear()
            chats = [f"burst-{i}" for i in range(burst)]
            cpu0, t0 = time.process_time(), time.perf_counter()
            latencies = await phase(fake, adapter, timer, chats, 0, lambda i: MESSAGES[i % len(MESSAGES)])
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            unread = sum(1 for c in chats if fake.chats[c].unread())
            calls = {p: len(fake.calls_to(p)) for p in sorted({c.path for c in fake.calls})}
            print(f"phase 2: {burst} buyer chats push at once: all answered and read in {wall:.1f} s "
                  f"(CPU {cpu:.1f} s)")
            print(f"  max requests/s sent {max_per_second(sent_at)}, at the server {fake.max_per_second()} (cap 50); "
                  f"requests {len(fake.calls)}: "
                  + ", ".join(f"{p} {n}" for p, n in calls.items()))
            print(f"  answered {len(latencies)}/{burst}, left unread {unread}; "
                  f"push -> first reply {quantiles(latencies)}")
            await adapter.close()
            await http.close()
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="new chats a second in phase 1")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long phase 1 brings new chats")
    parser.add_argument("--burst", type=int, default=1000, help="chats pushing at once in phase 2")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(args.rate, args.seconds, args.burst), 170))
