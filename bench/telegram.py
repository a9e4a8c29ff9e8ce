"""Telegram figures: the full bot against bare echo bots on the same transport, one fake Bot API.

Run: `make bench` or `.venv/bin/python bench/telegram.py [--chats 1000] [--rounds 3] [--rate 500]`.

Contestants, like with like:
- full bot: `build_app` + `build_telegram` + `tune_gc()`, served by `serving()`, as `ozonbot run`
  builds and runs it (aiohttp transport, per-chat concurrent update processor, SQLite store);
- PTB echo: a bare python-telegram-bot echo on the SAME transport (`make_requests`) and the SAME
  concurrency (`PerChatUpdateProcessor(512)`), the same long polling;
- aiogram echo: a bare aiogram 3 echo (its aiohttp session with the same pool size, updates as
  tasks, at most 512 at once); aiogram is a bench-only extra (`pip install -e '.[bench]'`);
- raw aiohttp loop: the floor, getUpdates in a loop and one sendMessage per update, no framework.

Every contestant runs in a fresh process of its own (forked from this lean parent, which imports
no bot framework), so none inherits another's imports, heap or GC settings. The full bot runs with
`tune_gc()` (what `ozonbot run` does); each echo runs twice, with the same tuning (like with like:
the strict comparison) and with CPython's stock GC (how a bare echo bot ships; aiogram's pydantic
objects make it pay about twice its tuned CPU there). The
fake Bot API (tests/fake_telegram.py) runs in a child process too: it serves getUpdates (long poll),
counts the API calls per method and drives the buyers: each chat follows a script and sends its next
update once all replies to the previous one came (closed loop, every chat at once), or updates are
offered at a fixed rate (open loop). Latency is measured at the fake, from the getUpdates response
that served an update to the first sendMessage answering it. The contestant's process reports its
CPU time (all threads) and peak RSS (sampled every 20 ms). Before the measured run each contestant
gets a warm-up on other chats (`--warmup`, one update each): a fresh process would otherwise pay
for opening up to 256 connections and for cold caches inside a run of a few thousand updates, which
a long-running bot does not.

The machine is shared and has 2 cores (one for the fake, one for the bot): each round runs every
contestant once, the order rotating between rounds, and the ratios are printed per round and as a
range. CPU µs per update is the steadier figure when the machine is busy.

Targets: full bot >= 0.8x the PTB echo (same transport, same concurrency) and >= 1.5x the aiogram
echo; p99 < 100 ms at 500 updates/s offered; RSS < 150 MB with 10,000 stored conversations.
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
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict, deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402

from tests.fake_telegram import TOKEN, FakeTelegram  # noqa: E402

GC_NOTES = {"both": "and with stock GC", "same": "only", "stock": "no: stock GC only"}
Step = tuple[str, str, int]  # (kind: text|press, payload, replies expected)
CONCURRENCY = 512  # build_telegram's default; the PTB and aiogram echoes get the same
POOL = 256  # make_requests' default connection pool; aiogram's session gets the same


# ---- the fake's process ---------------------------------------------------------------------------

class Driver:
    """Feeds scripted buyers into the fake, counts API calls and measures served -> first reply."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        fake.record_calls = False
        fake.on_send = self.on_call
        self.reset({}, None)

    def reset(self, scripts: dict[int, list[Step]], rate: float | None) -> None:
        self.scripts = scripts
        self.rate = rate
        self.step: dict[int, int] = {}
        self.got: dict[int, int] = defaultdict(int)
        self.waiting: dict[int, deque[int]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.calls: Counter[str] = Counter()
        self.counting = False
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

    def on_call(self, call: Any) -> None:
        if self.counting:
            self.calls[call.method] += 1
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
                    self.counting = False  # what comes after the last reply (the next getUpdates) is not this run's
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
        self.counting = True
        started = time.perf_counter()
        if rate is None:
            for chat in scripts:
                self.inject(chat)
        else:
            asyncio.get_running_loop().create_task(self._offer(rate))
        try:
            await asyncio.wait_for(self.done.wait(), cap)
            finished = True
        except TimeoutError:
            finished = False
        self.counting = False
        end = self.last_reply if self.last_reply > started else time.perf_counter()
        return {"updates": self.sent_updates, "answered": len(self.latencies), "elapsed": end - started,
                "latencies": self.latencies, "finished": finished, "replies": self.replies,
                "skipped": self.skipped, "calls": dict(self.calls)}

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


# ---- a contestant's process -----------------------------------------------------------------------

def rss_now() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Serve:
    """What a contestant's child does: start the bot, say "ready", serve until "stop", report."""

    def __init__(self, conn, api_base: str, opts: dict[str, Any]) -> None:
        self.conn, self.api_base, self.opts = conn, api_base, opts
        self.peak = 0

    async def hold(self) -> dict[str, Any]:
        """Call once the bot polls: tells the parent, waits for "stop", returns CPU and RSS figures."""
        loop = asyncio.get_running_loop()

        async def sample() -> None:
            while True:
                self.peak = max(self.peak, rss_now())
                await asyncio.sleep(0.02)

        sampler = loop.create_task(sample())
        await asyncio.sleep(0.3)  # the first getUpdates is out: the run's clock starts on a polling bot
        self.conn.send("ready")
        await loop.run_in_executor(None, self.conn.recv)  # "go": the warm-up (if any) is over
        cpu0, wall0 = time.process_time(), time.perf_counter()
        self.conn.send("going")
        await loop.run_in_executor(None, self.conn.recv)  # "stop"
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        sampler.cancel()
        self.peak = max(self.peak, rss_now())
        return {"cpu": cpu, "wall": wall, "rss": self.peak}


def contestant_process(conn, kind: str, api_base: str, opts: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.WARNING)  # as `ozonbot run` configures it
    if opts["gc_tune"]:
        from bot.runtime import tune_gc

        tune_gc()
    serve = Serve(conn, api_base, opts)
    runner: Callable[[Serve], Any] = {"full": serve_full, "ptb": serve_ptb, "aiogram": serve_aiogram,
                                      "raw": serve_raw}[kind]
    profile = opts.get("profile")
    if profile and kind == "full":
        import cProfile

        prof = cProfile.Profile()
        report = asyncio.run(runner(serve, prof))
        prof.dump_stats(profile)
    else:
        report = asyncio.run(runner(serve))
    conn.send(report)


async def serve_raw(serve: Serve) -> dict[str, Any]:
    """The floor: getUpdates in a loop, one concurrent sendMessage per update, nothing else."""
    base = f"{serve.api_base}{TOKEN}"
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL)) as http:
        tasks: set[asyncio.Task] = set()

        async def echo(chat: int, text: str) -> None:
            async with http.post(f"{base}/sendMessage", json={"chat_id": chat, "text": text}) as resp:
                await resp.read()

        async def poll() -> None:
            offset = 0
            while not stop.is_set():
                async with http.post(f"{base}/getUpdates", json={"offset": offset, "timeout": 1}) as resp:
                    updates = (await resp.json())["result"]
                for u in updates:
                    offset = u["update_id"] + 1
                    msg = u.get("message") or (u.get("callback_query") or {}).get("message")
                    task = asyncio.get_running_loop().create_task(echo(msg["chat"]["id"], msg.get("text") or "."))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

        poller = asyncio.get_running_loop().create_task(poll())
        report = await serve.hold()
        stop.set()
        await asyncio.wait_for(poller, 5)
    return report


async def serve_ptb(serve: Serve) -> dict[str, Any]:
    """A bare PTB echo on the full bot's transport and update processor."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    from bot.settings import Settings
    from bot.telegram.build import POLL_TIMEOUT, make_requests
    from bot.telegram.ordering import PerChatUpdateProcessor

    async def echo(update: Update, context) -> None:
        await update.message.reply_text(update.message.text)

    settings = Settings(telegram_transport="aiohttp", _env_file=None)
    api_request, updates_request = make_requests(settings)
    application = (ApplicationBuilder().token(TOKEN).base_url(serve.api_base)
                   .request(api_request).get_updates_request(updates_request)
                   .concurrent_updates(PerChatUpdateProcessor(CONCURRENCY)).build())
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        await application.updater.start_polling(timeout=POLL_TIMEOUT, poll_interval=0,
                                                allowed_updates=Update.ALL_TYPES)
        report = await serve.hold()
        await application.updater.stop()
        await application.stop()
    return report


async def serve_aiogram(serve: Serve) -> dict[str, Any]:
    """A bare aiogram 3 echo: its own aiohttp session (same pool size), updates as tasks, 512 at once."""
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    from bot.telegram.build import POLL_TIMEOUT

    server = TelegramAPIServer.from_base(serve.api_base.removesuffix("/bot"))
    bot = Bot(TOKEN, session=AiohttpSession(api=server, limit=POOL))
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text)

    polling = asyncio.get_running_loop().create_task(
        dp.start_polling(bot, polling_timeout=POLL_TIMEOUT, handle_signals=False, handle_as_tasks=True,
                         tasks_concurrency_limit=CONCURRENCY))
    report = await serve.hold()
    await dp.stop_polling()
    await asyncio.wait_for(polling, 5)
    return report


async def serve_full(serve: Serve, prof=None) -> dict[str, Any]:
    """The bot as `ozonbot run` builds it (no agents' group: NoHandoff)."""
    from pydantic import SecretStr

    from bot.app import build_app
    from bot.settings import Settings
    from bot.telegram.build import build_telegram
    from bot.telegram.run import serving

    settings = Settings(data_dir=Path(serve.opts["data_dir"]), telegram_bot_token=SecretStr(TOKEN),
                        telegram_api_base=serve.api_base, telegram_transport="aiohttp", lookups_per_hour=1000,
                        _env_file=None)
    app = build_app(settings)
    try:
        seeded = serve.opts.get("seed_conversations", 0)
        if seeded:
            await seed_conversations(app, seeded)
        application = build_telegram(app, settings)
        async with serving(application, settings):
            if prof is not None:
                prof.enable()
            report = await serve.hold()
            if prof is not None:
                prof.disable()
        report["stored"] = await app.store.count_conversations()
    finally:
        await app.close()
    return report


async def seed_conversations(app, n: int) -> None:
    from bot.engine.events import Buyer, Start

    have = await app.store.count_conversations()
    for i in range(max(0, n - have)):
        chat = f"seeded{i}"
        await app.handle(chat, Start(), Buyer(chat, "ru"), incoming=("command", "/start"))


# ---- calibration (in a child: the parent imports no bot code) ------------------------------------

def calibrate_process(conn, data_dir: str) -> None:
    conn.send(asyncio.run(calibrate(Path(data_dir))))


async def calibrate(tmp: Path) -> list[list[Step]]:
    """One buyer per demo order through the App directly: the script and how many replies each step gets."""
    from bot.app import build_app
    from bot.engine.events import Buyer, Press, Start, Text
    from bot.orders.demo import DemoOrderProvider, seed
    from bot.settings import Settings
    from bot.telegram.keyboards import encode
    from bot.telegram.render import render_reply

    seed(tmp / "demo_orders.sqlite3")
    orders = [r for r in DemoOrderProvider(tmp / "demo_orders.sqlite3").scenarios() if r["phone_last4"]]
    settings = Settings(data_dir=tmp, lookups_per_hour=1000, _env_file=None)
    app = build_app(settings)
    scripts: list[list[Step]] = []
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
            scripts.append([s for s in steps if s[2] > 0])
    finally:
        await app.close()
    return scripts


def count(rendered) -> int:
    return sum(len(r.chunks) for r in rendered)


# ---- the parent: runs each contestant in a fresh process against the fake -------------------------

class Bench:
    def __init__(self, ctx, fake_conn, port: int, tmp: Path) -> None:
        self.ctx, self.fake_conn, self.tmp = ctx, fake_conn, tmp
        self.api_base = f"http://127.0.0.1:{port}/bot"
        self.runs = 0

    def run(self, kind: str, scripts: dict[int, list[Step]], rate: float | None = None, cap: float = 60.0,
            gc_tune: bool = True, warmup: dict[int, list[Step]] | None = None, **opts: Any) -> dict[str, Any]:
        """One contestant in a fresh process: start it, warm it up (connections opened, caches filled:
        a long-running bot's steady state), then measure `scripts` on it."""
        self.runs += 1
        if kind == "full" and "data_dir" not in opts:
            data = self.tmp / f"full{self.runs}"
            data.mkdir()
            shutil.copy(self.tmp / "calib" / "demo_orders.sqlite3", data / "demo_orders.sqlite3")
            opts["data_dir"] = str(data)
        opts["gc_tune"] = gc_tune
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=contestant_process, args=(child, kind, self.api_base, opts), daemon=True)
        proc.start()
        try:
            if not parent.poll(120):
                raise RuntimeError(f"{kind}: the bot did not start")
            assert parent.recv() == "ready"
            if warmup:
                self.fake_conn.send(("run", warmup, None, cap))
                warm = self.fake_conn.recv()
                if not warm["finished"]:
                    raise RuntimeError(f"{kind}: the warm-up did not finish")
            parent.send("go")
            assert parent.recv() == "going"
            self.fake_conn.send(("run", scripts, rate, cap))
            result = self.fake_conn.recv()
            parent.send("stop")
            if not parent.poll(60):
                raise RuntimeError(f"{kind}: the bot did not stop")
            result.update(parent.recv())
        finally:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
        return result


def pct(values: list[float], q: float) -> float:
    lat = sorted(values)
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


def figures(name: str, result: dict[str, Any]) -> dict[str, Any]:
    n = result["updates"]
    per_s = n / result["elapsed"] if result["elapsed"] > 0 else 0.0
    calls = {m: c for m, c in result["calls"].items()}
    api = sum(c for m, c in calls.items() if m != "getUpdates")
    row = {"name": name, "per_s": per_s, "p50": pct(result["latencies"], 0.50), "p99": pct(result["latencies"], 0.99),
           "rss_mb": result["rss"] / 2**20, "cpu_us": result["cpu"] / n * 1e6 if n else float("nan"),
           "calls": api / n if n else 0.0, "finished": result["finished"], "per_method": calls, "updates": n}
    flag = "" if result["finished"] else "  (did not finish within the cap!)"
    if result.get("skipped"):
        flag += f"  ({result['skipped']} offered updates skipped: that buyer still waited for a reply)"
    methods = " ".join(f"{m} {c / n:.2f}" for m, c in sorted(calls.items(), key=lambda kv: -kv[1]) if n)
    print(f"  {name:<22} {n:>5} upd {per_s:>6.0f}/s  p50 {row['p50']:6.1f} ms  p99 {row['p99']:6.1f} ms  "
          f"CPU {row['cpu_us']:5.0f} µs/upd  RSS {row['rss_mb']:5.1f} MB  "
          f"calls/upd {row['calls']:.2f} ({methods}){flag}",
          flush=True)
    return row


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}x (median {sorted(values)[len(values) // 2]:.2f}x)"


def main(args) -> None:
    ctx = mp.get_context("fork")
    fake_conn, child = ctx.Pipe()
    fake = ctx.Process(target=fake_process, args=(child,), daemon=True)
    fake.start()
    port = fake_conn.recv()
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "calib").mkdir()
            c_parent, c_child = ctx.Pipe()
            calib = ctx.Process(target=calibrate_process, args=(c_child, str(tmp / "calib")))
            calib.start()
            by_order = c_parent.recv()
            calib.join()
            steps = len(by_order[0])
            bench = Bench(ctx, fake_conn, port, tmp)
            replies = sum(s[2] for s in by_order[0])
            print(f"{args.chats} chats; full bot: {steps} updates per chat (/start, menu button, order number, phone "
                  f"digits; ~{replies} replies) over {len(by_order)} demo orders; echoes: {steps} texts per chat, one "
                  f"reply each. Full bot with tune_gc(); echoes with it {GC_NOTES[args.gc]}. "
                  f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.",
                  flush=True)

            def full_scripts(first: int) -> dict[int, list[Step]]:
                return {first + i: by_order[i % len(by_order)] for i in range(args.chats)}

            echo = {10_000_000 + i: [("text", f"hello {k}", 1) for k in range(steps)] for i in range(args.chats)}
            # Warm-up, on other chats: one update each (the full bot's /start), not measured.
            warm_full = {20_000_000 + i: by_order[0][:1] for i in range(args.warmup)}
            warm_echo = {20_000_000 + i: [("text", "warm-up", 1)] for i in range(args.warmup)}
            names = {"full": "full bot", "ptb": "PTB echo", "aiogram": "aiogram echo", "raw": "raw aiohttp",
                     "ptb~": "PTB echo, stock GC", "aiogram~": "aiogram, stock GC"}
            kinds = [k for k in ("full", "ptb", "ptb~", "aiogram", "aiogram~", "raw")
                     if k.rstrip("~") in args.only and not (k.endswith("~") and args.gc == "same")
                     and not (k in ("ptb", "aiogram") and args.gc == "stock")]
            rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for r in range(args.rounds):
                order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
                print(f"round {r + 1}/{args.rounds}, closed loop, every chat at once:", flush=True)
                for kind in order:
                    scripts = full_scripts(1) if kind == "full" else echo
                    opts = {"profile": args.profile} if kind == "full" and args.profile and r == 0 else {}
                    rows[kind].append(figures(names[kind], bench.run(
                        kind.rstrip("~"), scripts, gc_tune=not kind.endswith("~"),
                        warmup=warm_full if kind == "full" else warm_echo, **opts)))

            rated = None
            if args.rate > 0 and "full" in kinds:
                n_rate = int(args.rate * args.seconds)
                offered = {5_000_000 + i: by_order[i % len(by_order)] for i in range(max(1, n_rate // steps))}
                print(f"open loop, {args.rate:.0f} updates/s offered for ~{args.seconds:.0f} s, with "
                      f"{args.stored:,} stored conversations:", flush=True)
                result = bench.run("full", offered, rate=args.rate, seed_conversations=args.stored, warmup=warm_full)
                rated = figures(f"full bot at {args.rate:.0f}/s", result)
                print(f"  (store held {result.get('stored', 0):,} conversations at the end)")

            print("summary (ranges over rounds; each ratio from contestants of the same round):")

            def ratio(a: str, b: str, key: str, target: str) -> None:
                if a in rows and b in rows:
                    if key == "per_s":
                        vals = [x["per_s"] / y["per_s"] for x, y in zip(rows[a], rows[b], strict=False)]
                        what = "updates/s"
                    else:  # CPU per update: the higher, the slower; print as speed
                        vals = [y["cpu_us"] / x["cpu_us"] for x, y in zip(rows[a], rows[b], strict=False)]
                        what = "CPU/upd  "
                    print(f"  {names[a]} / {names[b]:<18} {what} {spread(vals)}{target}")

            for kind in kinds:
                per_s = [x["per_s"] for x in rows[kind]]
                cpu = [x["cpu_us"] for x in rows[kind]]
                print(f"  {names[kind]:<18} {min(per_s):6.0f}-{max(per_s):6.0f} updates/s, "
                      f"{min(cpu):4.0f}-{max(cpu):4.0f} CPU µs/update, "
                      f"{rows[kind][0]['calls']:.2f} API calls/update (besides getUpdates)")
            for peer, target in (("ptb", "   (target >= 0.8x)"), ("aiogram", "   (target >= 1.5x)")):
                for kind in (peer, peer + "~"):
                    ratio("full", kind, "per_s", target)
                    ratio("full", kind, "cpu", "")
            ratio("ptb", "aiogram", "per_s", "")
            ratio("ptb~", "aiogram~", "per_s", "")
            ratio("full", "raw", "per_s", "")
            if rated is not None:
                print(f"  p99 at {args.rate:.0f}/s offered                 {rated['p99']:.1f} ms   (target < 100 ms)")
                peak = max(x["rss_mb"] for x in rows.get("full", [rated]))
                print(f"  peak RSS full bot                    {peak:.1f} MB; "
                      f"with {args.stored:,} stored conversations {rated['rss_mb']:.1f} MB   (target < 150 MB)")
            print(f"  total time                           {time.perf_counter() - t0:.1f} s; load average now "
                  f"{os.getloadavg()[0]:.2f} (other processes share these cores: compare within a round)")
    finally:
        fake_conn.send(("stop",))
        fake.join(5)
        if fake.is_alive():
            fake.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="closed-loop rounds (every contestant once a round)")
    parser.add_argument("--only", nargs="+", default=["full", "ptb", "aiogram", "raw"],
                        choices=["full", "ptb", "aiogram", "raw"])
    parser.add_argument("--rate", type=float, default=500.0, help="open loop: updates/s offered (0: skip)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=int, default=1000, help="chats sending one unmeasured update first (0: cold)")
    parser.add_argument("--stored", type=int, default=10_000, help="conversations stored before the open loop")
    parser.add_argument("--gc", choices=["both", "same", "stock"], default="both",
                        help="echoes with the full bot's tune_gc() (same), with CPython's stock GC, or both")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the full bot's first closed-loop run into FILE")
    main(parser.parse_args())
