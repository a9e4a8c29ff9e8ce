"""`ozonbot flows show FLOW --lang LANG`: a flow as the buyer would read it, node by node."""

from __future__ import annotations

from bot.engine.flow import Flow
from bot.i18n.catalogs import Catalogs
from bot.operators.common import message_text, node_order, texts_in


def show_flow(flow: Flow, catalogs: Catalogs, lang: str) -> str:
    text_of = texts_in(catalogs, lang)
    file = flow.file or f"flows/{flow.id}.yaml"
    lines = [f"Flow {flow.id}: {message_text(catalogs, flow.title, lang)}   ({file})"]
    if flow.description:
        lines.append(f"  {flow.description}")
    trig = flow.triggers
    starts = [f"/{c}" for c in trig.commands] + [f'"{k}"' for k in trig.keywords.get(lang, [])]
    if starts:
        lines.append("Starts on: " + ", ".join(starts))
    if flow.menu:
        lines.append("Listed in the main menu.")
    lines.append(f"Start node: {flow.start}")
    for nid in node_order(flow):
        node = flow.nodes[nid]
        lines.append("")
        summary = node.summary()
        lines.append(f"[{nid}] {node.kind}" + (f" - {summary}" if summary != node.kind else ""))
        for where, msg in node.messages():
            if where.startswith("options["):
                continue  # shown with the buttons below
            text = message_text(catalogs, msg, lang)
            tag = "bot says" if where == "say" else f"bot says ({where})"
            lines.append(f"  {tag}: " + _indent(text))
            if msg.params:
                lines.append("    with " + ", ".join(f"{{{k}}} = {v}" for k, v in msg.params.items()))
            if msg.count:
                lines.append(f"    plural form chosen by {msg.count}")
        lines += node.describe(text_of)
    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")
