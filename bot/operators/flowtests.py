"""Conversation tests for operators: `flows/tests/*.yaml`, run by `ozonbot flows test`.

The file format is in bot/operators/flowtest_format.py; results and the text report are in
bot/operators/flowtest_report.py.

Every test runs on a fresh temporary SQLite store with the demo orders seeded at a fixed clock
(`FIXED_NOW`), through `bot.app.build_app`, exactly as a buyer would talk to the bot. Nodes
reached are collected from the `node_entered` analytics events for the coverage report.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from bot.console import event_from_line
from bot.engine.content import Content
from bot.engine.effects import Action, End, Handoff, SetLanguage
from bot.engine.events import Buyer, Event, Press, StartFlow, Text
from bot.engine.flowset import FlowSet
from bot.engine.problems import FlowProblem
from bot.i18n.catalogs import Catalogs
from bot.operators.flowtest_format import Case, Expect, parse_test_file
from bot.operators.flowtest_report import CaseResult, Report, StepLog, coverage, listed, quoted

FIXED_NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CASE_TIMEOUT = 20.0  # seconds per test case: a hanging provider must not hang CI
CHAT_ID = "flowtest"
# How the conversation reaches the buyer: Telegram's buttons, or Ozon chat's numbered lines (a press
# is then the number typed, and the texts are what Ozon's chat shows: moderation-safe, split).
CHANNELS = ("telegram", "ozon")


# ---- running ----------------------------------------------------------------------------------
class _FaultyOrders:
    """The demo provider with its order service down (`backend: unavailable`) or answering
    nonsense (`backend: broken`), for the system flows."""

    def __init__(self, inner: Any, mode: str) -> None:
        self.inner, self.mode = inner, mode

    async def find(self, ref: Any) -> list[Any]:
        from bot.orders.errors import OrderBackendUnavailable

        if self.mode == "unavailable":
            raise OrderBackendUnavailable("flow test: order service down")
        raise ValueError("flow test: order service answered nonsense")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@contextlib.contextmanager
def _captured_logs() -> Iterator[list[logging.LogRecord]]:
    """The bot's warnings during a case, kept for the failure report instead of printed
    (cases with `backend: broken` log an expected traceback)."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("bot")
    handler = _Keep(logging.WARNING)
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


def effect_names(effects: list[Any]) -> list[str]:
    out: list[str] = []
    for e in effects:
        if isinstance(e, Action):
            out.append(f"action:{e.name}")
        elif isinstance(e, Handoff):
            out += ["handoff", f"handoff:{e.reason}"]
        elif isinstance(e, End):
            out.append("end:resolved" if e.resolved else "end:unresolved")
        elif isinstance(e, SetLanguage):
            out.append(f"lang:{e.lang}")
    return out


class FlowTestRunner:
    """Runs parsed cases against one validated FlowSet and its catalogs."""

    def __init__(self, flowset: FlowSet, catalogs: Catalogs, *, now: datetime = FIXED_NOW,
                 timeout: float = CASE_TIMEOUT, channel: str = "telegram") -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        self.channel = channel  # "ozon": replies as Ozon chat shows them, presses typed as their number
        self.flowset = flowset
        self.catalogs = catalogs
        self.content = Content.of(catalogs, flowset)
        self.now = now
        self.timeout = timeout
        from bot.orders.demo_data import demo_orders

        self.orders = {key: order for key, _, order in demo_orders(now)}

    def check_case(self, case: Case) -> list[str]:
        """Problems in a case that need no run: unknown order key, flow or node names."""
        out = []
        if case.lang not in self.catalogs.languages:
            out.append(f"lang: no catalog for '{case.lang}' (languages: {', '.join(self.catalogs.languages)})")
        if case.order and case.order not in self.orders:
            close = difflib.get_close_matches(case.order, list(self.orders), n=1)
            out.append(f"unknown demo order '{case.order}'" + (f" (did you mean '{close[0]}'?)" if close else
                                                                " (see `ozonbot orders list`)"))
        elif case.patch:
            if not case.order:
                out.append("'patch' needs an 'order' to change")
            else:
                fields = set(self.orders[case.order].model_dump())
                out += [f"patch: '{k}' is not an order field (fields: {', '.join(sorted(fields))})"
                        for k in sorted(set(case.patch) - fields)]
                try:
                    self._patched(case)
                except ValidationError as exc:
                    out += [f"patch: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        for i, step in enumerate(case.steps, 1):
            e = step.expect
            if e is None:
                continue
            if e.flow and e.flow not in self.flowset:
                out.append(f"step {i}: expect.flow '{e.flow}' is not a flow")
            elif e.node and e.flow and e.node not in self.flowset[e.flow].nodes:
                out.append(f"step {i}: expect.node '{e.node}' is not a node of flow '{e.flow}'")
            for name in e.entered:
                fid, _, nid = name.rpartition(":")
                fid = fid or e.flow or ""
                if fid and (fid not in self.flowset or nid not in self.flowset[fid].nodes):
                    out.append(f"step {i}: expect.entered '{name}' is not a node of flow '{fid}'")
            for name in e.effects:
                if not (name in ("handoff", "end:resolved", "end:unresolved") or
                        (name.split(":")[0] in ("action", "handoff", "lang") and ":" in name)):
                    out.append(f"step {i}: unknown effect '{name}' (use action:NAME, handoff, handoff:REASON, "
                               f"end:resolved, end:unresolved, lang:{'|'.join(self.catalogs.languages)})")
        return out

    def _patched(self, case: Case) -> Any:
        from bot.orders.model import Order

        data = self.orders[case.order or ""].model_dump(mode="json")
        return Order.model_validate({**data, **{k: v for k, v in case.patch.items() if k in data}})

    def _seed_patch(self, case: Case, path: Path) -> None:
        """Write the patched order over the seeded one (same posting number)."""
        import sqlite3

        order = self._patched(case)
        conn = sqlite3.connect(path)
        try:
            conn.execute("UPDATE demo_orders SET data=?, status=?, phone_last4=? WHERE posting_number=?",
                         (order.model_dump_json(), order.status, order.phone_last4 or "",
                          self.orders[case.order or ""].posting_number))
            conn.commit()
        finally:
            conn.close()

    def _substitute(self, case: Case, text: str) -> str:
        order = self.orders.get(case.order or "")
        if order is None:
            return text
        if case.patch:
            order = self._patched(case)
        from bot.i18n.render import Renderer
        from bot.orders.ownership import order_day, real_product

        postings = [o for o in self.orders.values() if o.order_number == order.order_number]
        values = {"order_number": order.order_number, "posting_number": order.posting_number,
                  "phone": order.phone_last4 or "",
                  "phone_number": f"+7{order.phone_digits}" if order.phone_digits else "",
                  "product": real_product(postings) if order.products else "",
                  "order_date": Renderer(self.catalogs).value(order_day(order), case.lang)}
        for k, v in values.items():
            text = text.replace("{" + k + "}", v)
        return text

    async def run_case(self, case: Case) -> CaseResult:
        result = CaseResult(case, passed=False)
        static = self.check_case(case)
        if static:
            result.failures = static
            return result
        with tempfile.TemporaryDirectory(prefix="ozonbot-flowtest-") as tmp, _captured_logs() as logs:
            try:
                await asyncio.wait_for(self._run(case, Path(tmp), result), self.timeout)
            except TimeoutError:
                result.failures.append(f"timed out after {self.timeout:g}s")
            except Exception as exc:  # noqa: BLE001 - a crash is a failed test, never a crashed runner
                result.failures.append(f"crashed: {type(exc).__name__}: {exc}")
        result.passed = not result.failures
        if not result.passed:
            result.failures += [f"log: {r.levelname} {r.name}: {r.getMessage()}" for r in logs]
        return result

    async def _run(self, case: Case, tmp: Path, result: CaseResult) -> None:
        from bot.app import build_app
        from bot.orders.demo import DemoOrderProvider, seed
        from bot.settings import Settings
        from bot.store.sqlite import SqliteStore

        # A fixed LINK_SECRET: the ownership question's decoys and their places are the same every run.
        settings = Settings(data_dir=tmp, link_secret=SecretStr("flow tests"), _env_file=None)  # type: ignore[call-arg]
        seed(settings.demo_orders_path, now=self.now)
        if case.patch:
            self._seed_patch(case, settings.demo_orders_path)
        orders: Any = DemoOrderProvider(settings.demo_orders_path, seed_if_empty=False)
        if case.backend != "ok":
            orders = _FaultyOrders(orders, case.backend)
        app = build_app(settings, content=self.content,
                        clock=_FixedClock(self.now), orders=orders, store=SqliteStore(settings.store_path))
        buyer = Buyer(id=CHAT_ID, language_code=case.lang, name="flow test")
        buttons: list[list[str]] = []
        node_shown = ""
        seen_events = 0
        seen_actions = 0
        last_entered = ""
        try:
            for i, step in enumerate(case.steps, 1):
                line = case.step_lines[i - 1] if i - 1 < len(case.step_lines) else case.line
                if step.press is not None:
                    pressed = self._substitute(case, step.press)
                    log = StepLog(i, line, f'press "{pressed}"')
                    match = [b for b in buttons if pressed in b[1]]
                    if not match:
                        result.steps.append(log)
                        result.failures.append(
                            f"step {i} (line {line}): no button containing \"{pressed}\"; "
                            f"buttons were: {listed([b[1] for b in buttons])}")
                        return
                    event: Event = Press(match[0][0], node_shown)
                    incoming = ("press", match[0][0])
                    if self.channel == "ozon":  # no buttons: the buyer types the number shown
                        typed = str(buttons.index(match[0]) + 1)
                        log.action += f" (typed \"{typed}\")"
                        event, incoming = Text(typed), ("text", typed)
                elif step.flow is not None:
                    log = StepLog(i, line, f'flow "{step.flow}"')
                    event, incoming = StartFlow(step.flow), None
                else:
                    text = self._substitute(case, step.send or "")
                    shown = step.send if text == step.send else f"{step.send}\" -> \"{text}"
                    log = StepLog(i, line, f'send "{shown}"')
                    event = event_from_line(text)
                    incoming = (type(event).__name__.lower(), text)
                reply = await app.handle(CHAT_ID, event, buyer, incoming=incoming)
                log.texts = [m.text for m in reply.outgoing if m.kind == "say"]
                log.msgs = [str(m.meta.get("msg", "")) for m in reply.outgoing if m.kind == "say"]
                recorded = await app.store.actions(CHAT_ID)
                log.actions, seen_actions = recorded[seen_actions:], len(recorded)
                step_buttons: list[list[str]] = []
                for m in reply.outgoing:
                    if "buttons" in m.meta:
                        step_buttons, node_shown = m.meta["buttons"], m.meta.get("node", "")
                if self.channel == "ozon":
                    log.texts, step_buttons = _as_ozon_shows(reply, step_buttons, app.text)
                if step_buttons:
                    buttons = step_buttons
                log.buttons = [b[1] for b in step_buttons]
                log.effects = effect_names(reply.effects)
                events = await app.store.analytics()
                for ev in events[seen_events:]:
                    if ev.name == "node_entered":
                        result.reached.add((ev.data.get("flow", ""), ev.data.get("node", "")))
                        last_entered = f"{ev.data.get('flow')}:{ev.data.get('node')}"
                        log.entered.append(last_entered)
                seen_events = len(events)
                state = await app.store.load_state(CHAT_ID)
                log.at = f"{state.at.flow}:{state.at.node}" if state and state.at else last_entered
                result.steps.append(log)
                if step.expect is not None:
                    failures = self._compare(case, step.expect, log)
                    if failures:
                        result.failures += [f"step {i} (line {line}) {log.action}: {f}" for f in failures]
                        return
        finally:
            await app.close()

    def _compare(self, case: Case, e: Expect, log: StepLog) -> list[str]:
        out = []
        flow, _, node = log.at.partition(":")
        if e.flow is not None and e.flow != flow:
            out.append(f"expected flow {e.flow}, but the conversation is in {log.at or 'no flow'}")
        elif e.node is not None and e.node != node:
            out.append(f"expected node {e.flow + ':' if e.flow else ''}{e.node}, but it is at {log.at or 'no node'}")
        said = "\n".join(log.texts)
        for frag in e.says:
            frag = self._substitute(case, frag)
            if frag not in said:
                out.append(f"expected the bot to say \"{frag}\"; it said:\n" + quoted(log.texts))
        for frag in e.not_says:
            frag = self._substitute(case, frag)
            if frag in said:
                out.append(f"expected the bot not to say \"{frag}\"; it said:\n" + quoted(log.texts))
        for frag in e.buttons:
            frag = self._substitute(case, frag)
            if not any(frag in b for b in log.buttons):
                out.append(f"expected a button containing \"{frag}\"; buttons: {listed(log.buttons)}")
        for name in e.effects:
            if name not in log.effects:
                out.append(f"expected effect {name}; effects: {listed(log.effects)}")
        for name in e.entered:
            full = name if ":" in name else f"{e.flow or flow}:{name}"
            if full not in log.entered:
                out.append(f"expected to pass through {full}; passed through: {listed(log.entered)}")
        return out


def _as_ozon_shows(reply: Any, buttons: list[list[str]], text_of: Any) -> tuple[list[str], list[list[str]]]:
    """The turn's texts as Ozon chat shows them, and the choices read back from its numbered lines
    (each with the option id of the button at that number: the numbering must match the engine's)."""
    from bot.ozonchat.render import choices_shown, render_reply

    texts = ["\n".join(t.chunks) for t in render_reply(reply, text_of=text_of)]
    shown = choices_shown(texts[-1]) if texts and buttons else []
    return texts, [[b[0], label] for b, label in zip(buttons, shown, strict=True)]  # a mismatch fails the case


async def run_tests(flowset: FlowSet, catalogs: Catalogs, files: list[Path], *, base: Path | None = None,
                    only: str | None = None, channel: str = "telegram") -> Report:
    """Parse and run every case in `files`; `only` keeps the cases whose name contains it; `channel`
    renders the conversation as Telegram or Ozon chat shows it (CHANNELS)."""
    runner = FlowTestRunner(flowset, catalogs, channel=channel)
    problems: list[FlowProblem] = []
    results: list[CaseResult] = []
    for path in files:
        display = _display(path, base)
        cases, found = parse_test_file(path, display)
        problems += found
        for case in cases:
            if only and only not in case.name:
                continue
            results.append(await runner.run_case(case))
    reached = set().union(*(r.reached for r in results)) if results else set()
    return Report(results, problems, coverage(flowset, reached))


def _display(path: Path, base: Path | None) -> str:
    if base is None:
        return str(path)
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
