"""A validated set of flows, with indexes the executor needs, and the registry of versions."""

from __future__ import annotations

import re
import threading
import unicodedata

from bot.engine.conditions import Compiled, Expression
from bot.engine.flow import Flow
from bot.engine.nodes import SwitchNode


GREETING_FLOW = "main_menu"  # its keywords are greetings: any topic keyword in the same text wins


def fold(text: str) -> str:
    """Case- and width-insensitive form of text for matching keywords and labels."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _has_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese keywords match anywhere (no spaces between words); others only at a word's start,
    so a stem such as 'отмен' matches 'отменить' but 'брак' does not match 'абракадабра'."""
    kw = re.escape(fold(keyword))
    return re.compile(kw if _has_han(keyword) else rf"(?<!\w){kw}")


class FlowSet:
    """Immutable once built: flows by id, compiled expressions, trigger indexes."""

    def __init__(self, flows: dict[str, Flow], expressions: dict[str, Expression]) -> None:
        self.flows = flows
        self.expressions = expressions
        self.fns: dict[str, Compiled] = {source: e.fn for source, e in expressions.items()}
        # id(switch node) -> ((condition, goto), ...): a switch is a tight loop, keep it flat.
        self.switches: dict[int, tuple[tuple[Compiled, str], ...]] = {
            id(node): tuple((self.fns[case.when], case.goto) for case in node.cases)
            for f in flows.values() for node in f.nodes.values() if isinstance(node, SwitchNode)
        }
        self.commands = {cmd: f.id for f in flows.values() for cmd in f.triggers.commands}
        # (pattern, flow id): a topic beats a greeting (the main menu's keywords come last), then
        # longer keywords beat shorter ones, so "здравствуйте, хочу отменить" means cancel.
        self.keywords = [
            (keyword_pattern(kw), flow_id)
            for kw, flow_id in sorted(
                ((kw, f.id) for f in flows.values() for kws in f.triggers.keywords.values() for kw in kws if kw.strip()),
                key=lambda t: (t[1] == GREETING_FLOW, -len(t[0])),
            )
        ]
        self.menu = [f for f in flows.values() if f.menu]
        self.static_choices: dict[int, object] = {}  # id(choice node) -> its Choices, when they never vary

    def __getitem__(self, flow_id: str) -> Flow:
        return self.flows[flow_id]

    def __contains__(self, flow_id: str) -> bool:
        return flow_id in self.flows

    def match_keyword(self, text: str) -> str | None:
        folded = fold(text)
        for pattern, flow_id in self.keywords:
            if pattern.search(folded):
                return flow_id
        return None


class FlowRegistry:
    """The current FlowSet plus every version seen since start, so conversations finish on theirs.

    `swap` replaces the current set atomically (used by live reload); readers never see a mix.
    """

    def __init__(self, flowset: FlowSet) -> None:
        self._lock = threading.Lock()
        self._current = flowset
        self._versions: dict[tuple[str, str], tuple[Flow, FlowSet]] = {}
        self._remember(flowset)

    @property
    def current(self) -> FlowSet:
        return self._current

    def swap(self, flowset: FlowSet) -> None:
        with self._lock:
            self._remember(flowset)
            self._current = flowset

    def _remember(self, flowset: FlowSet) -> None:
        for flow in flowset.flows.values():
            self._versions.setdefault((flow.id, flow.version), (flow, flowset))

    def version(self, flow_id: str, version: str) -> tuple[Flow, FlowSet] | None:
        return self._versions.get((flow_id, version))
