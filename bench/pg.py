"""Several processes on PostgreSQL: turns per second through the webhook, p99 per turn, CPU per
process, beside the embedded SQLite bot; then leader failover after kill -9.

Run: `make bench` or `.venv/bin/python bench/pg.py [--chats 200] [--turns 10] [--rounds 2]`.

Each configuration starts real `python -m bot run --webhook` processes against a fake Bot API
(tests/fake_telegram.py) and a PostgreSQL server this script starts on loopback
(tests/pg_server.py, fsync off as in the tests: the figures are the bot's, not the disk's):
- sqlite x1: the embedded default (one process; its webhook answers once the update is stored);
- postgresql x1, x2: DATABASE_URL set; the webhook answers once the turn is durable and its reply
  sent (bot/telegram/shared.py); with 2 processes the driver spreads updates round-robin, as a
  load balancer does.
Closed loop: `--chats` buyers at once, each sending `/order <unknown number>` and the next one only
when the reply naming that number reached the fake (`--turns` per chat, after one warm-up turn).
Turn latency: from the POST of the update to the reply's sendMessage at the fake. CPU: user+system
seconds of each bot process and of all PostgreSQL server processes during the measured phase
(/proc), per turn. The machine has 2 cores shared by everything here (driver, fake, bots, database).

Failover: two PostgreSQL processes; the leader (the process whose leadership connection holds the
advisory lock: pg_locks + pg_stat_activity) is killed with -9; the time until another process's
connection holds the lock is printed, `--failovers` times (the killed one restarts in between).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bot.store.pg_leader import APPLICATION_NAME, LEADER_KEY  # noqa: E402
from tests.fake_telegram import TOKEN, FakeTelegram  # noqa: E402
from tests.pg_server import PgServer  # noqa: E402

SECRET = "bench-webhook-secret"
TICKS = os.sysconf("SC_CLK_TCK")
UPDATE_IDS = itertools.count(10_000_000)
ORDER_NUMBER = re.compile(r"9\d{7}-\d{4}")  # the order number a turn asks about, named in its reply
NUMBERS = itertools.count(1)


CONFIGURATIONS = (("sqlite x1", 1, False), ("postgresql x1", 1, True), ("postgresql x2", 2, True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (0, 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def server_pids(server: PgServer) -> list[int]:
    """The postmaster and its children (backends, writer, walwriter...)."""
    master = int((server.data / "postmaster.pid").read_text().split()[0])
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                pids.append(int(entry.name))
    return pids


class Bot:
    def __init__(self, fake: FakeTelegram, workdir: Path, port: int, url: str | None) -> None:
        self.fake, self.workdir, self.port, self.url = fake, workdir, port, url
        self.proc: asyncio.subprocess.Process | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "AGENTS_", "DATABASE_"))}
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": self.fake.api_base,
                    "TELEGRAM_FILE_BASE": self.fake.file_base, "DATA_DIR": str(self.workdir / "data"),
                    "WEBHOOK_SECRET": SECRET, "LINK_SECRET": "bench-link-secret", "LOOKUPS_PER_HOUR": "100000000",
                    "BUYER_MESSAGES_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1"})
        if self.url:
            env["DATABASE_URL"] = self.url
        return env

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        calls = len(self.fake.calls_of("setWebhook"))
        log = open(self.workdir / "bot.log", "ab")  # noqa: ASYNC230, SIM115 - handed to the child
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--webhook", f"http://127.0.0.1:{self.port}/hook",
            "--listen", f"127.0.0.1:{self.port}", cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        log.close()
        await self.fake.wait_for(lambda: len(self.fake.calls_of("setWebhook")) > calls, 120)

    def cpu(self) -> tuple[float, float]:
        return cpu_times(self.proc.pid) if self.proc else (0.0, 0.0)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                await self.kill()


class Driver:
    """Buyers in a closed loop: the next update of a chat once the reply to the previous one came."""

    def __init__(self, fake: FakeTelegram, ports: list[int]) -> None:
        self.fake = fake
        self.ports = itertools.cycle(ports)
        self.waiting: dict[str, asyncio.Future] = {}
        self.update_ids = UPDATE_IDS  # never the same update_id twice in a run (a repeat is dropped)
        self.numbers = NUMBERS
        fake.record_calls = False
        fake.on_send = self._sent

    def _sent(self, call: Any) -> None:
        if call.method != "sendMessage":
            return
        found = ORDER_NUMBER.search(str(call.params.get("text") or ""))
        future = self.waiting.pop(found.group(), None) if found else None
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def turn(self, session: aiohttp.ClientSession, chat: int) -> float:
        n = next(self.numbers)
        token = f"9{n:07d}-{n % 10000:04d}"
        text = f"/order {token}"
        update = {"update_id": next(self.update_ids), "message": {
            "message_id": n, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": f"Buyer{chat}", "language_code": "ru"},
            "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        future = asyncio.get_running_loop().create_future()
        self.waiting[token] = future
        start = time.perf_counter()
        while True:  # a 5xx (a process busy or restarting): post again, as Telegram would
            async with session.post(f"http://127.0.0.1:{next(self.ports)}/hook", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                await resp.read()
                if resp.status == 200:
                    break
            await asyncio.sleep(0.05)
        done = await asyncio.wait_for(future, 60)
        return done - start

    async def run(self, chats: list[int], turns: int) -> list[float]:
        latencies: list[float] = []
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            async def buyer(chat: int) -> None:
                for _ in range(turns):
                    latencies.append(await self.turn(session, chat))

            await asyncio.gather(*(buyer(c) for c in chats))
        return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def measure(name: str, processes: int, url: str | None, server: PgServer, tmp: Path,
                  chats: int, turns: int) -> dict[str, Any]:
    async with FakeTelegram() as fake:
        ports = [free_port() for _ in range(processes)]
        bots = [Bot(fake, Path(tempfile.mkdtemp(prefix=f"{name.replace(' ', '-')}-", dir=tmp)), port, url)
                for port in ports]
        for bot in bots:
            await bot.start()
        driver = Driver(fake, ports)
        try:
            await driver.run(list(range(1, chats + 1)), 1)  # warm-up: connections, caches, first rows
            db_pids = server_pids(server) if url else []
            cpu0 = [b.cpu() for b in bots]
            db0 = sum(cpu_seconds(p) for p in db_pids)
            own0 = os.times()
            start = time.perf_counter()
            latencies = await driver.run(list(range(1, chats + 1)), turns)
            wall = time.perf_counter() - start
            own1 = os.times()
            cpu = [(u1 - u0, s1 - s0) for (u0, s0), (u1, s1) in zip(cpu0, (b.cpu() for b in bots), strict=True)]
            db = sum(cpu_seconds(p) for p in server_pids(server)) - db0 if url else 0.0
        finally:
            for bot in bots:
                await bot.stop()
    n = len(latencies)
    return {"name": name, "turns": n, "wall": wall, "rate": n / wall, "p50": pct(latencies, 0.5) * 1000,
            "p99": pct(latencies, 0.99) * 1000, "cpu": cpu, "db": db,
            "driver": own1.user - own0.user + own1.system - own0.system}


def show(r: dict[str, Any]) -> None:
    """CPU per turn in µs: each bot process (user + system), the database, the driver with the fake."""
    n = r["turns"]
    bots = ", ".join(f"{(u + s_) / n * 1e6:.0f} ({u / n * 1e6:.0f}+{s_ / n * 1e6:.0f})" for u, s_ in r["cpu"])
    total = sum(u + s_ for u, s_ in r["cpu"]) + r["db"] + r["driver"]
    db = f", PostgreSQL {r['db'] / n * 1e6:.0f}" if r["db"] else ""
    print(f"  {r['name']:<14} {r['rate']:7.0f} turns/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
          f"({n} turns in {r['wall']:.1f} s); CPU µs/turn: bots {bots}{db}, driver+fake {r['driver'] / n * 1e6:.0f}; "
          f"all {total / n * 1e6:.0f} = {total / r['wall']:.2f} cores", flush=True)


async def leader_os_pid(conn: asyncpg.Connection) -> int | None:
    name = await conn.fetchval(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2",
        LEADER_KEY >> 32, LEADER_KEY & 0xFFFFFFFF)
    return int(name[len(APPLICATION_NAME):]) if name and name.startswith(APPLICATION_NAME) else None


async def poll(read: Any, good: Any, every: float) -> Any:
    """Read (a coroutine function) every `every` seconds until `good(value)` (a minute at most); the value."""
    deadline = time.monotonic() + 60
    while True:
        value = await read()
        if good(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("no leader")
        await asyncio.sleep(every)


async def failover(server: PgServer, url: str, tmp: Path, times: int) -> list[float]:
    took: list[float] = []
    rng = random.Random(1)
    conn = await asyncpg.connect(url)
    async with FakeTelegram() as fake:
        bots = [Bot(fake, tmp / f"failover-{i}", free_port(), url) for i in range(2)]
        try:
            for bot in bots:
                await bot.start()
            for _ in range(times):
                # both processes well started (each tries for the lock from the end of its start-up),
                # and the kill at a random moment of the follower's 1 s cycle
                await asyncio.sleep(2.5 + rng.random())
                leader = await poll(lambda: leader_os_pid(conn), lambda pid: pid is not None, 0.05)
                victim = next(b for b in bots if b.proc and b.proc.pid == leader)
                killed = time.perf_counter()
                await victim.kill()
                await poll(lambda: leader_os_pid(conn), lambda pid, old=leader: pid not in (None, old), 0.005)
                took.append(time.perf_counter() - killed)
                await victim.start()
        finally:
            for bot in bots:
                await bot.stop()
            await conn.close()
    return took


async def main(args: argparse.Namespace) -> None:
    server = PgServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="ozonbot-bench-pg-"))
    try:
        print(f"bench/pg.py: {args.chats} chats x {args.turns} turns each, closed loop, through the webhook; "
              f"{os.cpu_count()} cores shared by driver, fake, bots and database", flush=True)
        schemas = itertools.count(1)
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}:", flush=True)
            for name, processes, pg in CONFIGURATIONS:
                if args.only and name not in args.only:
                    continue
                url = None
                if pg:
                    schema = f"bench{next(schemas)}"
                    server.psql(f"CREATE SCHEMA {schema}")
                    url = server.url(search_path=schema)
                show(await measure(name, processes, url, server, tmp, args.chats, args.turns))
        if args.failovers <= 0:
            return
        schema = "failover"
        server.psql(f"CREATE SCHEMA {schema}")
        took = await failover(server, server.url(search_path=schema), tmp, args.failovers)
        print("leader failover after kill -9 (LEADER_CHECK_SECONDS=1): "
              + ", ".join(f"{t:.2f} s" for t in took) + f"; mean {sum(took) / len(took):.2f} s, max {max(took):.2f} s",
              flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--failovers", type=int, default=5, help="leader kills (0: none)")
    parser.add_argument("--only", action="append", choices=[c[0] for c in CONFIGURATIONS],
                        help="measure only this configuration (repeatable)")
    asyncio.run(main(parser.parse_args()))
