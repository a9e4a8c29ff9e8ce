"""A validated set of flows, with indexes the executor needs, and the registry of versions."""

from __future__ import annotations

from typing import Any

from bot.engine.conditions import Compiled, Expression
from bot.engine.flow import Flow
from bot.engine.keywords import Keyword, KeywordIndex
from bot.engine.understanding import Route, Understanding


class FlowSet:
    """Immutable once built: flows by id, compiled expressions, trigger indexes, and what each
    node prepared for itself (`NodeBase.prepare`)."""

    def __init__(self, flows: dict[str, Flow], expressions: dict[str, Expression],
                 synonyms: dict[str, tuple[str, ...]] | None = None) -> None:
        self.flows = flows
        self.synonyms = synonyms or {}  # button label message id -> what buyers type for it
        self.expressions = expressions
        self.fns: dict[str, Compiled] = {source: e.fn for source, e in expressions.items()}
        # id(node) -> its prepared data; the flows hold their nodes, so an id is never reused.
        self.prepared: dict[int, Any] = {
            id(node): data for f in flows.values() for node in f.nodes.values()
            if (data := node.prepare(self.fns)) is not None
        }
        self.commands = {cmd: f.id for f in flows.values() for cmd in f.triggers.commands}
        self.keywords = KeywordIndex([Keyword.of(kw, f.id) for f in flows.values()
                                      for kws in f.triggers.keywords.values() for kw in kws if kw.strip()])
        self.menu = [f for f in flows.values() if f.menu]
        # The intent model, trained here: a reload builds a new FlowSet, so a new model.
        self.understanding = Understanding({f.id: f.triggers.examples for f in flows.values() if f.triggers.examples},
                                           self.keywords)

    def __getitem__(self, flow_id: str) -> Flow:
        return self.flows[flow_id]

    def __contains__(self, flow_id: str) -> bool:
        return flow_id in self.flows

    def match_keyword(self, text: str) -> str | None:
        return self.keywords.match(text)

    def route(self, text: str) -> Route:
        """Which flow free text asks for (or not understood, with the closest flows)."""
        return self.understanding.route(text)


class FlowRegistry:
    """The current FlowSet plus every version seen before it, so conversations finish on theirs.

    Immutable: a reload makes a new registry with `replacing(flowset)`, which keeps the old versions.
    """

    def __init__(self, flowset: FlowSet, versions: dict[tuple[str, str], tuple[Flow, FlowSet]] | None = None) -> None:
        self._current = flowset
        self._versions = dict(versions or {})
        for flow in flowset.flows.values():
            self._versions.setdefault((flow.id, flow.version), (flow, flowset))

    @property
    def current(self) -> FlowSet:
        return self._current

    def replacing(self, flowset: FlowSet) -> FlowRegistry:
        """A registry whose current set is `flowset`, still knowing every version this one knows."""
        return FlowRegistry(flowset, self._versions)

    def version(self, flow_id: str, version: str) -> tuple[Flow, FlowSet] | None:
        return self._versions.get((flow_id, version))
