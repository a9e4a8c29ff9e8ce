"""Loading flows and catalogs for operator tools, and describing nodes in words."""

from __future__ import annotations

from pathlib import Path

from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.loader import load_flows
from bot.engine.nodes import (
    ActionNode, AskNode, ChoiceNode, EndNode, GotoNode, HandoffNode, LookupOrderNode, Message, SayNode, SwitchNode,
)
from bot.engine.nodes.base import flow_of, is_flow_target
from bot.engine.problems import FlowLoadError, FlowProblem
from bot.i18n.catalogs import CatalogError, Catalogs



def load_checked(flows_dir: str | Path, locales_dir: str | Path) -> tuple[Catalogs, FlowSet]:
    """Catalogs and flows, fully validated. Raises FlowLoadError (catalog errors included)."""
    try:
        catalogs = Catalogs.load(locales_dir)
    except CatalogError as exc:
        raise FlowLoadError([FlowProblem(exc.file, exc.line, 1, exc.message, "fix the .po file", check="catalog")]) from None
    return catalogs, load_flows(flows_dir, catalogs)


class UnknownFlow(KeyError):
    def __init__(self, flow_id: str, known: list[str]) -> None:
        super().__init__(flow_id)
        self.flow_id, self.known = flow_id, known

    def __str__(self) -> str:
        return f"no flow '{self.flow_id}'; flows: {', '.join(self.known)}"


def get_flow(flowset: FlowSet, flow_id: str) -> Flow:
    if flow_id not in flowset:
        raise UnknownFlow(flow_id, sorted(flowset.flows))
    return flowset[flow_id]


def node_order(flow: Flow) -> list[str]:
    """Nodes in reading order: breadth first from the start, then any the walk missed."""
    seen: list[str] = []
    todo = [flow.start]
    while todo:
        nid = todo.pop(0)
        if nid in seen or nid not in flow.nodes:
            continue
        seen.append(nid)
        todo += [t for _, t in flow.nodes[nid].targets() if not is_flow_target(t)]
    return seen + [n for n in flow.nodes if n not in seen]


def message_text(catalogs: Catalogs, msg: Message | str, lang: str) -> str:
    """The text as written in the catalog, placeholders left as {name}; plural forms joined by ' | '."""
    msgid = msg.msg if isinstance(msg, Message) else msg
    entry = catalogs._entries.get(lang, {}).get(msgid)  # noqa: SLF001 - read-only peek at the forms
    if entry is None or not any(entry.forms):
        return f"[missing {lang}: {msgid}]"
    if entry.plural:
        return " | ".join(f for f in entry.forms if f)
    return entry.forms[0]


def target_text(target: str) -> str:
    return f"flow {flow_of(target)}" if is_flow_target(target) else target


def edge_labels(node, catalogs: Catalogs, lang: str) -> list[tuple[str, str]]:
    """(label, target) for every way out of a node, in words an operator reads."""
    if isinstance(node, ChoiceNode):
        out = []
        for o in node.options:
            label = message_text(catalogs, o.label, lang)
            if o.when:
                label += f" (if {o.when})"
            out.append((label, o.goto))
        return out
    if isinstance(node, SwitchNode):
        out = [(c.when, c.goto) for c in node.cases]
        if node.else_ is not None:
            out.append(("else", node.else_))
        return out
    if isinstance(node, LookupOrderNode):
        return [("found", node.found), ("not found", node.not_found), ("service down", node.unavailable),
                ("locked", node.locked)]
    if isinstance(node, AskNode):
        out = [(f"got {node.input}", node.next), (f"invalid {node.retries + 1}x", node.on_fail)]
        if node.skip:
            out.append(("skip", node.skip))
        return out
    if isinstance(node, (SayNode, ActionNode)):
        return [("", node.next)]
    if isinstance(node, GotoNode):
        return [("", "flow:" + node.flow)]
    return []


def node_summary(node) -> str:
    """What a node does, in a few words (no texts)."""
    if isinstance(node, LookupOrderNode):
        return "find the order: asks for its number and the last 4 phone digits"
    if isinstance(node, AskNode):
        return f"ask for {node.input.replace('_', ' ')} -> vars.{node.var}"
    if isinstance(node, ActionNode):
        args = ", ".join(f"{k}={v}" for k, v in node.args.items())
        return f"action {node.action}({args})"
    if isinstance(node, HandoffNode):
        return f"hand over to an agent (reason: {node.reason})"
    if isinstance(node, EndNode):
        return "end: " + ("resolved" if node.resolved else "not resolved")
    if isinstance(node, GotoNode):
        return f"go to flow {node.flow}"
    if isinstance(node, SwitchNode):
        return "decide by the order"
    if isinstance(node, ChoiceNode):
        return "buttons"
    return node.kind
