"""Finding flows for operator tools, and their texts and nodes in the order an operator reads them."""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes import Message
from bot.engine.nodes.base import is_flow_target
from bot.i18n.catalogs import Catalogs


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
    entry = catalogs._entries.get(lang, {}).get(msgid)  # read-only peek at the forms
    if entry is None or not any(entry.forms):
        return f"[missing {lang}: {msgid}]"
    if entry.plural:
        return " | ".join(f for f in entry.forms if f)
    return entry.forms[0]


def texts_in(catalogs: Catalogs, lang: str) -> Callable[[Message | str], str]:
    """`message_text` in one language, as the nodes' `edges` and `describe` take it."""
    return lambda msg: message_text(catalogs, msg, lang)
