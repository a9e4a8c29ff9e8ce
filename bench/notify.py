"""Proactive messages drained against a fake Bot API that enforces the bot's rate limit by arrival
and answers 429 (retry_after) above it (tests/fake_limited.py): 429s received, messages lost, sent
twice, also with a kill -9 of the sender process in the middle (a fresh process drains the rest).

Telegram allows about 30 messages a second; 10,000 at 30/s take 5.5 minutes, so by default the run
is scaled tenfold: the fake allows 300/s and the sender paces at 270/s (the same 10% headroom as
the shipped 25/s of 30). `--limit 30 --rate 25` runs it at Telegram's real figures. Messages go to
`--chats` buyers (5 each by default), so the fake's one-message-a-second-per-chat rule is checked too.

    .venv/bin/python bench/notify.py                     # 10,000 messages, both rounds
    .venv/bin/python bench/notify.py --messages 2000 --limit 30 --rate 25

The sender runs in a child process (`bench/notify.py sender ...`) so that it can be killed; the
fake runs in this process and counts every message it accepted.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bot.notify.records_sqlite import SqliteNotifyRecords  # noqa: E402
from tests.fake_limited import LimitedTelegram  # noqa: E402
from tests.fake_telegram import TOKEN  # noqa: E402

FIRST_CHAT = 10_000_000


# ---- the sender child -------------------------------------------------------------------------------
async def run_sender(db: str, api: str, rate: float, chat_seconds: float) -> dict:
    from telegram import Bot

    from bot.notify.sender import Limits, Sender
    from bot.telegram.request_aiohttp import AiohttpRequest, SharedSession

    records = SqliteNotifyRecords(db)
    bot = Bot(TOKEN, base_url=api, request=AiohttpRequest(SharedSession(64)))
    await bot.initialize()
    sender = Sender(bot, records, limits=Limits(per_second=rate, chat_seconds=chat_seconds), poll_seconds=0.05)
    started = time.perf_counter()
    cpu = time.process_time()
    sender.start()
    await sender.idle()
    await sender.stop()
    await bot.shutdown()
    figures = dict(vars(sender.figures), seconds=time.perf_counter() - started, cpu=time.process_time() - cpu)
    await records.close()
    return figures


def sender_main(argv: list[str]) -> None:
    db, api, rate, chat_seconds = argv[0], argv[1], float(argv[2]), float(argv[3])
    print(json.dumps(asyncio.run(run_sender(db, api, rate, chat_seconds))), flush=True)


def spawn(db: str, api: str, rate: float, chat_seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "sender", db, api, str(rate),
                             str(chat_seconds)], stdout=subprocess.PIPE, text=True)


# ---- the bench ------------------------------------------------------------------------------------
@dataclass
class Round:
    name: str
    messages: int
    accepted: int = 0
    lost: int = 0
    twice: int = 0
    too_many: int = 0
    in_flight_at_kill: int | None = None
    seconds: float = 0.0
    busiest_second: int = 0
    sender_cpu: float = 0.0


async def fill(db: str, messages: int, chats: int) -> None:
    records = SqliteNotifyRecords(db)
    now = time.time()
    for i in range(messages):
        await records.enqueue(f"n{i}", FIRST_CHAT + i % chats, {"text": f"n{i}", "buttons": [[["📦", "k|order|1"]]]},
                              now)
    await records.close()


def busiest(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    best, j = 0, 0
    for i, t in enumerate(arrivals):
        while arrivals[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def sending(db: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM notify_outbox WHERE status='sending'").fetchone()[0])
    finally:
        conn.close()


async def wait_child(child: subprocess.Popen, within: float) -> dict:
    deadline = time.monotonic() + within
    while child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            raise TimeoutError("the sender did not finish")
        await asyncio.sleep(0.05)
    out = (child.stdout.read() if child.stdout else "").strip().splitlines()
    return json.loads(out[-1]) if out else {}


async def one_round(name: str, messages: int, chats: int, limit: float, rate: float, kill_at: float | None,
                    workdir: Path) -> Round:
    db = str(workdir / f"{name}.sqlite3")
    await fill(db, messages, chats)
    result = Round(name, messages)
    timeout = messages / rate * 3 + 60
    async with LimitedTelegram(per_second=limit, chat_seconds=1.0) as fake:
        fake.record_calls = False
        started = time.perf_counter()
        child = spawn(db, fake.api_base, rate, 1.1)
        if kill_at is not None:
            while len(fake.accepted_at) < kill_at * messages:
                if child.poll() is not None:
                    raise RuntimeError("the sender ended before the kill")
                await asyncio.sleep(0.001)
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            result.in_flight_at_kill = sending(db)
            child = spawn(db, fake.api_base, rate, 1.1)
        figures = await wait_child(child, timeout)
        result.seconds = time.perf_counter() - started
        result.sender_cpu = figures.get("cpu", 0.0)
        counts = Counter(t for texts in fake.delivered.values() for t in texts)
        result.accepted = sum(counts.values())
        result.lost = sum(1 for i in range(messages) if counts[f"n{i}"] == 0)
        result.twice = sum(c - 1 for c in counts.values() if c > 1)
        result.too_many = fake.too_many
        result.busiest_second = busiest(fake.accepted_at)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sender":
        sender_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--chats", type=int, default=2_000)
    ap.add_argument("--limit", type=float, default=300.0, help="the fake's messages a second (Telegram: 30)")
    ap.add_argument("--rate", type=float, default=270.0, help="the sender's pace (shipped: 25 of 30)")
    ap.add_argument("--kill-at", type=float, default=0.5, help="kill -9 after this share was accepted")
    args = ap.parse_args()
    print(f"bench/notify.py: {args.messages:,} messages to {args.chats:,} chats; fake Bot API allows "
          f"{args.limit:g}/s (sliding 1 s window, by arrival) and 1/s per chat; sender paced at {args.rate:g}/s, "
          f"1.1 s per chat", flush=True)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kill in (("drain", None), ("kill -9", args.kill_at)):
            rounds.append(asyncio.run(one_round(name.replace(" ", ""), args.messages, args.chats, args.limit,
                                                args.rate, kill, Path(tmp))))
            rounds[-1].name = name
    head = f"{'round':<10}{'messages':>10}{'accepted':>10}{'429s':>7}{'lost':>6}{'twice':>7}{'in flight':>11}" \
           f"{'seconds':>9}{'msg/s':>8}{'busiest 1s':>12}{'sender CPU s':>14}"
    print(head)
    for r in rounds:
        flight = "-" if r.in_flight_at_kill is None else str(r.in_flight_at_kill)
        print(f"{r.name:<10}{r.messages:>10,}{r.accepted:>10,}{r.too_many:>7}{r.lost:>6}{r.twice:>7}{flight:>11}"
              f"{r.seconds:>9.1f}{r.accepted / r.seconds:>8.1f}{r.busiest_second:>12}{r.sender_cpu:>14.1f}")
    print("in flight: messages claimed but not marked sent when the sender was killed; only these can be sent twice")


if __name__ == "__main__":
    main()
