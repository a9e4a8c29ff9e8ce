"""Telegram figures: the full bot vs a bare PTB echo bot vs a raw aiohttp loop, one fake Bot API.

Run: `.venv/bin/python bench/telegram.py [--chats 1000] [--rate 500] [--seconds 6]`.

The fake Bot API (tests/fake_telegram.py) runs in a child process, so the bots under test have the
event loop and the core to themselves; it serves getUpdates (long poll) and drives the buyers:
each chat follows a script and sends its next update once all replies to the previous one came
(closed loop, every chat at once), or updates are offered at a fixed rate (open loop). Latency is
measured at the fake, from the getUpdates response that served an update to the first sendMessage
answering it. RSS is sampled in this process (the bots) every 20 ms.

Targets: full bot >= 2x the bare PTB echo bot; p99 < 100 ms at 500 updates/s; RSS < 150 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is called telegram.py: never let it shadow the python-telegram-bot package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import multiprocessing as mp  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict, deque  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from tests.fake_telegram import TOKEN, FakeTelegram  # noqa: E402

Step = tuple[str, str, int]  # (kind: text|press, payload, replies expected)


# ---- the fake's process ---------------------------------------------------------------------------

class Driver:
    """Feeds scripted buyers into the fake and measures served -> first reply."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        fake.record_calls = False
        fake.on_send = self.on_send
        self.reset({}, None)

    def reset(self, scripts: dict[int, list[Step]], rate: float | None) -> None:
        self.scripts = scripts
        self.rate = rate
        self.step: dict[int, int] = {}
        self.got: dict[int, int] = defaultdict(int)
        self.current: dict[int, int] = {}  # chat -> update_id waiting for its first reply
        self.waiting: dict[int, deque[int]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.sent_updates = 0
        self.skipped = 0
        self.replies = 0
        self.left = 0
        self.done = asyncio.Event()
        self.last_reply = 0.0

    def inject(self, chat: int) -> None:
        kind, payload, _ = self.scripts[chat][self.step[chat]]
        uid = self.fake.press(chat, payload) if kind == "press" else self.fake.text(chat, payload)
        self.waiting[chat].append(uid)
        self.sent_updates += 1

    def on_send(self, call: Any) -> None:
        if call.method != "sendMessage":
            return
        chat = int(call.params["chat_id"])
        now = time.perf_counter()
        self.replies += 1
        self.last_reply = now
        if chat not in self.step or self.step[chat] >= len(self.scripts[chat]):
            return
        if self.got[chat] == 0 and self.waiting[chat]:
            uid = self.waiting[chat].popleft()
            served = self.fake.served_at.pop(uid, None)
            if served is not None:
                self.latencies.append(now - served)
        self.got[chat] += 1
        script = self.scripts[chat]
        if self.got[chat] >= script[self.step[chat]][2]:
            self.got[chat] = 0
            self.step[chat] += 1
            if self.step[chat] >= len(script):
                self.left -= 1
                if self.left == 0:
                    self.done.set()
            elif self.rate is None:
                self.inject(chat)

    async def run(self, scripts: dict[int, list[Step]], rate: float | None, cap: float) -> dict[str, Any]:
        self.fake.pending.clear()
        self.fake.served_at.clear()
        self.reset(scripts, rate)
        self.left = len(scripts)
        for chat in scripts:
            self.step[chat] = 0
        started = time.perf_counter()
        if rate is None:
            for chat in scripts:
                self.inject(chat)
        else:
            asyncio.get_running_loop().create_task(self._offer(rate))
        try:
            await asyncio.wait_for(self.done.wait(), cap)
            finished = True
        except asyncio.TimeoutError:
            finished = False
        end = self.last_reply if self.last_reply > started else time.perf_counter()
        return {"updates": self.sent_updates, "answered": len(self.latencies), "elapsed": end - started,
                "latencies": self.latencies, "finished": finished, "replies": self.replies,
                "skipped": self.skipped}

    async def _offer(self, rate: float) -> None:
        """Round-robin over the chats, step by step, at `rate` updates per second."""
        order = [(chat, k) for k in range(max(len(s) for s in self.scripts.values())) for chat in self.scripts
                 if k < len(self.scripts[chat])]
        start = time.perf_counter()
        for i, (chat, k) in enumerate(order):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.step.get(chat) == k:
                self.inject(chat)
            elif self.step.get(chat, 0) < len(self.scripts[chat]):
                # this buyer's previous step is still unanswered: a real buyer would wait too; drop them
                self.skipped += len(self.scripts[chat]) - k
                self.step[chat] = len(self.scripts[chat])
                self.left -= 1
                if self.left == 0:
                    self.done.set()


def fake_process(conn) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with FakeTelegram() as fake:
            driver = Driver(fake)
            conn.send(fake.port)
            while True:
                msg = await loop.run_in_executor(None, conn.recv)
                if msg[0] == "stop":
                    break
                _, scripts, rate, cap = msg
                conn.send(await driver.run(scripts, rate, cap))
    asyncio.run(main())


# ---- the bots -------------------------------------------------------------------------------------

class RssSampler:
    def __init__(self) -> None:
        self.peak = 0
        self._task: asyncio.Task | None = None

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    async def __aenter__(self) -> "RssSampler":
        async def sample() -> None:
            while True:
                self.peak = max(self.peak, self.rss())
                await asyncio.sleep(0.02)
        self.peak = self.rss()
        self._task = asyncio.get_running_loop().create_task(sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.rss())


class Remote:
    def __init__(self, conn, port: int) -> None:
        self.conn, self.port = conn, port

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def run(self, scripts: dict[int, list[Step]], rate: float | None = None, cap: float = 40.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self.conn.send(("run", scripts, rate, cap))
        return await loop.run_in_executor(None, self.conn.recv)


async def raw_aiohttp_bot(api: str, stop: asyncio.Event) -> None:
    """The floor: getUpdates in a loop, one concurrent sendMessage per update, nothing else."""
    base = f"{api}{TOKEN}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
        offset = 0
        tasks: set[asyncio.Task] = set()

        async def echo(chat: int, text: str) -> None:
            async with http.post(f"{base}/sendMessage", json={"chat_id": chat, "text": text}) as resp:
                await resp.read()

        while not stop.is_set():
            async with http.post(f"{base}/getUpdates", json={"offset": offset, "timeout": 1}) as resp:
                updates = (await resp.json())["result"]
            for u in updates:
                offset = u["update_id"] + 1
                msg = u.get("message") or (u.get("callback_query") or {}).get("message")
                task = asyncio.get_running_loop().create_task(echo(msg["chat"]["id"], msg.get("text") or "."))
                tasks.add(task)
                task.add_done_callback(tasks.discard)


async def run_raw(remote: Remote, scripts) -> tuple[dict, int]:
    stop = asyncio.Event()
    async with RssSampler() as rss:
        task = asyncio.get_running_loop().create_task(raw_aiohttp_bot(remote.api_base, stop))
        result = await remote.run(scripts)
        stop.set()
        await asyncio.wait_for(task, 5)
    return result, rss.peak


async def run_ptb_echo(remote: Remote, scripts) -> tuple[dict, int]:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    async def echo(update: Update, context) -> None:
        await update.message.reply_text(update.message.text)

    application = ApplicationBuilder().token(TOKEN).base_url(remote.api_base).build()  # defaults: httpx, sequential
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with RssSampler() as rss:
        async with application:
            await application.start()
            await application.updater.start_polling(timeout=1, poll_interval=0)
            result = await remote.run(scripts)
            await application.updater.stop()
            await application.stop()
    return result, rss.peak


class FullBot:
    def __init__(self, tmp: Path, remote: Remote, transport: str) -> None:
        from bot.settings import Settings

        self.remote = remote
        self.settings = Settings(data_dir=tmp, telegram_bot_token=SecretStr(TOKEN), telegram_api_base=remote.api_base,
                                 telegram_transport=transport, lookups_per_hour=1000, _env_file=None)

    def build_app(self):
        from bot.app import build_app

        return build_app(self.settings)

    async def run(self, scripts, rate: float | None = None, before=None) -> tuple[dict, int]:
        from bot.telegram.build import build_telegram
        from bot.telegram.run import serving

        app = self.build_app()
        try:
            if before is not None:
                await before(app)
            application = build_telegram(app, self.settings)
            async with RssSampler() as rss:
                async with serving(application, self.settings):
                    result = await self.remote.run(scripts, rate)
        finally:
            await app.close()
        return result, rss.peak


async def calibrate(tmp: Path, remote: Remote, orders: list[dict[str, Any]]) -> dict[str, list[Step]]:
    """One buyer per demo order through the App directly: the script and how many replies each step gets."""
    from bot.app import build_app
    from bot.engine.events import Buyer, Press, Start, Text
    from bot.settings import Settings
    from bot.telegram.keyboards import encode
    from bot.telegram.render import render_reply

    settings = Settings(data_dir=tmp, lookups_per_hour=1000, _env_file=None)
    app = build_app(settings)
    scripts: dict[str, list[Step]] = {}
    try:
        for i, order in enumerate(orders):
            chat = f"calib{i}"
            buyer = Buyer(chat, "ru")
            steps: list[Step] = []
            reply = await app.handle(chat, Start(), buyer)
            steps.append(("text", "/start", count(render_reply(reply))))
            last = next(o for o in reply.outgoing if "buttons" in o.meta)
            option = next(b[0] for b in last.meta["buttons"] if b[0] == "status")
            reply = await app.handle(chat, Press(option, last.meta["node"]), buyer)
            steps.append(("press", encode(last.meta["node"], option), count(render_reply(reply))))
            for text in (order["posting_number"], order["phone_last4"]):
                reply = await app.handle(chat, Text(text), buyer)
                steps.append(("text", text, count(render_reply(reply))))
            scripts[order["posting_number"]] = [s for s in steps if s[2] > 0]
    finally:
        await app.close()
    return scripts


def count(rendered) -> int:
    return sum(len(r.chunks) for r in rendered)


def figures(name: str, result: dict[str, Any], rss: int) -> dict[str, Any]:
    lat = sorted(result["latencies"])
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan"))
    rate = result["updates"] / result["elapsed"] if result["elapsed"] > 0 else 0.0
    row = {"name": name, "updates": result["updates"], "per_s": rate, "p50": p(0.50), "p99": p(0.99),
           "rss_mb": rss / 2**20, "finished": result["finished"]}
    flag = "" if result["finished"] else "  (did not finish within the cap!)"
    if result.get("skipped"):
        flag += f"  ({result['skipped']} offered updates skipped: that buyer still waited for a reply)"
    print(f"  {name:<34} {result['updates']:>6} updates  {rate:>8.0f} updates/s  p50 {row['p50']:7.1f} ms  "
          f"p99 {row['p99']:7.1f} ms  peak RSS {row['rss_mb']:6.1f} MB{flag}", flush=True)
    return row


async def main(args) -> None:
    logging.basicConfig(level=logging.ERROR)
    from bot.orders.demo import DemoOrderProvider, seed

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=fake_process, args=(child,), daemon=True)
    proc.start()
    remote = Remote(parent, parent.recv())
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            for sub in ("calib", "full", "httpx"):
                (tmp / sub).mkdir()
                seed(tmp / sub / "demo_orders.sqlite3")
            orders = [r for r in DemoOrderProvider(tmp / "calib" / "demo_orders.sqlite3").scenarios() if r["phone_last4"]]
            by_order = await calibrate(tmp / "calib", remote, orders)
            keys = list(by_order)
            steps = len(by_order[keys[0]])
            print(f"{args.chats} chats; full bot script per chat: {steps} updates (/start, menu button, order number, "
                  f"phone digits) on {len(keys)} demo orders; echo bots: {steps} texts per chat.", flush=True)

            def full_scripts(first: int) -> dict[int, list[Step]]:
                return {first + i: by_order[keys[i % len(keys)]] for i in range(args.chats)}

            echo = {10_000_000 + i: [("text", f"hello {k}", 1) for k in range(steps)] for i in range(args.chats)}
            print("closed loop, every chat at once:", flush=True)
            raw = figures("raw aiohttp loop", *await run_raw(remote, echo))
            ptb = figures("bare PTB echo (httpx, sequential)", *await run_ptb_echo(remote, echo))
            full_bot = FullBot(tmp / "full", remote, "aiohttp")
            full = figures("full bot (aiohttp transport)", *await full_bot.run(full_scripts(1)))
            httpx_bot = FullBot(tmp / "httpx", remote, "httpx")
            fullx = figures("full bot (httpx transport)", *await httpx_bot.run(full_scripts(1)))

            async def store_10k(app) -> None:
                from bot.engine.events import Buyer, Start

                have = await app.store.count_conversations()
                for i in range(max(0, 10_000 - have)):
                    chat = f"seeded{i}"
                    await app.handle(chat, Start(), Buyer(chat, "ru"), incoming=("command", "/start"))
                print(f"  (store now holds {await app.store.count_conversations()} conversations)", flush=True)

            n_rate = int(args.rate * args.seconds)
            offered = {5_000_000 + i: by_order[keys[i % len(keys)]] for i in range(max(1, n_rate // steps))}
            print(f"open loop, {args.rate:.0f} updates/s offered for ~{args.seconds:.0f} s, 10,000+ stored conversations:",
                  flush=True)
            rated = figures(f"full bot at {args.rate:.0f}/s offered", *await full_bot.run(offered, rate=args.rate, before=store_10k))

            print("summary:")
            print(f"  full bot / bare PTB echo        {full['per_s'] / ptb['per_s']:.2f}x   (target >= 2x)")
            print(f"  full bot / raw aiohttp loop     {full['per_s'] / raw['per_s']:.2f}x")
            print(f"  aiohttp / httpx transport       {full['per_s'] / fullx['per_s']:.2f}x   (full bot)")
            print(f"  p99 at {args.rate:.0f}/s offered          {rated['p99']:.1f} ms   (target < 100 ms)")
            print(f"  peak RSS full bot               {max(full['rss_mb'], rated['rss_mb']):.1f} MB; with 10,000+ stored "
                  f"conversations {rated['rss_mb']:.1f} MB   (target < 150 MB)")
            print(f"  total time                      {time.perf_counter() - t0:.1f} s")
    finally:
        parent.send(("stop",))
        proc.join(5)
        if proc.is_alive():
            proc.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    asyncio.run(main(parser.parse_args()))
