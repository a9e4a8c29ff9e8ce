"""`ozonbot flows graph [FLOW] --format mermaid|dot`: the decision tree for review.

Nodes are labelled with their id and text in the chosen language, edges with the button label or
the condition. Jumps to other flows end in a separate "flow X" box.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes.base import flow_of, is_flow_target
from bot.i18n.catalogs import Catalogs
from bot.operators.common import message_text, node_order, texts_in

FORMATS = {"mermaid": "mmd", "dot": "dot"}
# A node's figure (`NodeBase.shape`) in each format: mermaid brackets around the label, dot shape.
MERMAID_SHAPES = {"decision": ("{", "}"), "choice": ("[/", "/]"), "stop": ("([", "])"), "subroutine": ("[[", "]]")}
DOT_SHAPES = {"decision": "diamond", "choice": "parallelogram", "subroutine": "box3d"}
MAX_LABEL = 90


def _short(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node_label(flow: Flow, nid: str, catalogs: Catalogs, lang: str) -> tuple[str, str]:
    node = flow.nodes[nid]
    msgs = [m for where, m in node.messages() if not where.startswith("options[")]
    text = _short(message_text(catalogs, msgs[0], lang)) if msgs else node.summary()
    return nid, text


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# ---- mermaid ----------------------------------------------------------------------------------
def _mm(text: str) -> str:
    """Escape for a quoted mermaid label."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def mermaid(flow: Flow, catalogs: Catalogs, lang: str) -> str:
    text_of = texts_in(catalogs, lang)
    title = message_text(catalogs, flow.title, lang)
    lines = ["---", f"title: \"{flow.id}: {title.replace(chr(34), '')}\"", "---", "flowchart TD"]
    externals: dict[str, str] = {}
    lines.append(f'  start(("start")) --> n_{_safe_id(flow.start)}')
    for nid in node_order(flow):
        node = flow.nodes[nid]
        name, text = _node_label(flow, nid, catalogs, lang)
        label = f"<b>{_mm(name)}</b><br/>{_mm(text)}"
        nid_s = f"n_{_safe_id(nid)}"
        opening, closing = MERMAID_SHAPES.get(node.shape, ("[", "]"))
        lines.append(f'  {nid_s}{opening}"{label}"{closing}')
        for edge, target in node.edges(text_of):
            if is_flow_target(target):
                dest = externals.setdefault(target, f"f_{_safe_id(flow_of(target))}")
            else:
                dest = f"n_{_safe_id(target)}"
            arrow = f' -->|"{_mm(_short(edge, 60))}"| ' if edge else " --> "
            lines.append(f"  {nid_s}{arrow}{dest}")
    for target, ext in externals.items():
        lines.append(f'  {ext}>"flow {_mm(flow_of(target))}"]')
    lines.append("  classDef ext fill:#eef,stroke:#88a")
    lines.append("  classDef stop fill:#efe,stroke:#6a6")
    if externals:
        lines.append(f"  class {','.join(externals.values())} ext")
    stops = [f"n_{_safe_id(n)}" for n, node in flow.nodes.items() if node.shape == "stop"]
    if stops:
        lines.append(f"  class {','.join(stops)} stop")
    return "\n".join(lines) + "\n"


# ---- graphviz dot -----------------------------------------------------------------------------
def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(flow: Flow, catalogs: Catalogs, lang: str) -> str:
    text_of = texts_in(catalogs, lang)
    title = message_text(catalogs, flow.title, lang)
    lines = [f"digraph {_dq(flow.id)} {{",
             f"  label={_dq(flow.id + ': ' + title)}; labelloc=t; rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Noto Sans CJK SC,sans-serif"];',
             '  edge [fontname="Noto Sans CJK SC,sans-serif", fontsize=10];',
             '  "__start" [shape=circle, label="start", fillcolor="#dddddd"];',
             f'  "__start" -> {_dq(flow.start)};']
    externals: set[str] = set()
    for nid in node_order(flow):
        node = flow.nodes[nid]
        name, text = _node_label(flow, nid, catalogs, lang)
        shape = DOT_SHAPES.get(node.shape, "box")
        fill = "#e6f5e6" if node.shape == "stop" else "white"
        lines.append(f"  {_dq(nid)} [label={_dq(name + chr(10) + text)}, shape={shape}, fillcolor={_dq(fill)}];")
        for edge, target in node.edges(text_of):
            dest = target
            if is_flow_target(target):
                dest = "flow:" + flow_of(target)
                externals.add(dest)
            attrs = f" [label={_dq(_short(edge, 60))}]" if edge else ""
            lines.append(f"  {_dq(nid)} -> {_dq(dest)}{attrs};")
    for ext in sorted(externals):
        lines.append(f"  {_dq(ext)} [label={_dq('flow ' + flow_of(ext))}, shape=cds, fillcolor={_dq('#eeeeff')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_graph(flow: Flow, catalogs: Catalogs, lang: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return (mermaid if fmt == "mermaid" else dot)(flow, catalogs, lang)


def write_graphs(flowset: FlowSet, catalogs: Catalogs, lang: str, fmt: str, out_dir: str | Path) -> list[Path]:
    """One file per flow: <out_dir>/<flow id>.mmd|.dot. Returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fid in sorted(flowset.flows):
        path = out / f"{fid}.{FORMATS[fmt]}"
        path.write_text(render_graph(flowset[fid], catalogs, lang, fmt), encoding="utf-8")
        written.append(path)
    return written
