"""A validated set of flows, with indexes the executor needs, and the registry of versions."""

from __future__ import annotations

import threading

from bot.engine.conditions import Compiled, Expression
from bot.engine.flow import Flow
from bot.engine.keywords import Keyword, KeywordIndex
from bot.engine.nodes import SwitchNode


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
        self.keywords = KeywordIndex([Keyword.of(kw, f.id) for f in flows.values()
                                      for kws in f.triggers.keywords.values() for kw in kws if kw.strip()])
        self.menu = [f for f in flows.values() if f.menu]
        self.static_choices: dict[int, object] = {}  # id(choice node) -> its Choices, when they never vary

    def __getitem__(self, flow_id: str) -> Flow:
        return self.flows[flow_id]

    def __contains__(self, flow_id: str) -> bool:
        return flow_id in self.flows

    def match_keyword(self, text: str) -> str | None:
        return self.keywords.match(text)


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
