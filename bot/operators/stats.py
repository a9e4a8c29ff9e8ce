"""`ozonbot stats [--since DATE] [--html FILE]`: how each flow does, from the analytics events.

Every time a flow starts a *session* of that flow begins; it ends one of these ways:

- resolved / unresolved: an `end` node (`flow_ended` with that outcome);
- handed_off: a `handoff` node;
- passed_on: it went on to another flow through one of its own transitions (menu -> order_status);
- dropped: the buyer left, restarted, or the conversation is still open at that node.

Containment = resolved / starts: the share of sessions the bot finished by itself with the
problem solved ("-" for flows that never end themselves, such as the main menu, which routes).
Drop-off by node counts where dropped sessions stopped.
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.engine.flowset import FlowSet
from bot.engine.nodes.base import flow_of, is_flow_target
from bot.engine.understanding import mask_digits
from bot.store.sqlite import read_analytics

# Events whose text operators should read (bot/engine/engine.py records them, digits masked).
UNCLEAR = {"not_understood": "not understood", "nlu_low_confidence": "low confidence"}
OUTCOMES = ("resolved", "unresolved", "handed_off", "passed_on", "dropped")
COLORS = {"resolved": "#2e9d55", "unresolved": "#e0a526", "handed_off": "#3f7fd6", "passed_on": "#9aa4b1",
          "dropped": "#d64545"}
LABELS = {"resolved": "resolved", "unresolved": "ended unresolved", "handed_off": "handed to an agent",
          "passed_on": "passed on to another flow", "dropped": "dropped"}


class StatsError(Exception):
    """The store cannot be read (missing file, not an ozonbot store)."""


@dataclass
class FlowStats:
    flow: str
    starts: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {o: 0 for o in OUTCOMES})
    reached: dict[str, int] = field(default_factory=dict)  # node -> sessions that entered it
    dropped_at: dict[str, int] = field(default_factory=dict)  # node -> sessions that stopped there
    passed_to: dict[str, int] = field(default_factory=dict)  # flow -> sessions passed on to it
    nodes: list[str] = field(default_factory=list)  # reading order when the flow is known

    @property
    def resolved(self) -> int:
        return self.outcomes["resolved"]

    @property
    def handoffs(self) -> int:
        return self.outcomes["handed_off"]

    @property
    def containment(self) -> float | None:
        """resolved / starts; None for flows that never end themselves (menus that route onwards)."""
        ended = self.outcomes["resolved"] + self.outcomes["unresolved"] + self.outcomes["handed_off"]
        return self.resolved / self.starts if self.starts and ended else None

    def funnel(self) -> list[tuple[str, int, int]]:
        """(node, sessions that reached it, sessions dropped there), in flow order."""
        order = [n for n in self.nodes if n in self.reached] + sorted(n for n in self.reached if n not in self.nodes)
        return [(n, self.reached[n], self.dropped_at.get(n, 0)) for n in order]

    def as_dict(self) -> dict[str, Any]:
        return {"flow": self.flow, "starts": self.starts, **self.outcomes, "containment": self.containment,
                "funnel": [{"node": n, "reached": r, "dropped": d} for n, r, d in self.funnel()],
                "passed_to": self.passed_to}


@dataclass
class Stats:
    flows: dict[str, FlowStats]
    since: datetime | None
    events: int
    conversations: int
    # what buyers wrote that was not understood / routed with low confidence (digits masked):
    # (text, times, kind), most frequent first
    unclear: list[tuple[str, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None, "events": self.events,
                "conversations": self.conversations, "flows": [f.as_dict() for f in self.ordered()],
                "not_understood": [{"text": t, "times": n, "kind": k} for t, n, k in self.unclear]}

    def ordered(self) -> list[FlowStats]:
        return sorted(self.flows.values(), key=lambda f: (-f.starts, f.flow))


def parse_since(text: str | None) -> datetime | None:
    """`2026-11-01`, `2026-11-01T10:00`, or with an offset; dates are UTC midnight."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_events(db_path: str | Path, since: datetime | None = None) -> list[tuple[str, str, dict[str, Any], float]]:
    """(chat_id, name, data, at) in the order they were recorded. Read-only."""
    path = Path(db_path)
    if not path.exists():
        raise StatsError(f"no store at {path} (run the bot first, or pass --db)")
    try:
        events = read_analytics(path, since.timestamp() if since else None)
    except sqlite3.DatabaseError as exc:
        raise StatsError(f"cannot read events from {path}: {exc}") from None
    return [(e.chat_id, e.name, e.data, e.at) for e in events]


def _goes_to(flowset: FlowSet | None, flow: str, node: str, target_flow: str) -> bool | None:
    """Does `flow:node` have a transition into `target_flow`? None when the flows are unknown."""
    if flowset is None or flow not in flowset or node not in flowset[flow].nodes:
        return None
    return any(is_flow_target(t) and flow_of(t) == target_flow for _, t in flowset[flow].nodes[node].targets())


def compute(events: Iterable[tuple[str, str, dict[str, Any], float]], flowset: FlowSet | None = None,
            since: datetime | None = None) -> Stats:
    flows: dict[str, FlowStats] = {}
    open_: dict[str, tuple[str, str, set[str]]] = {}  # chat -> (flow, last node, nodes entered)
    chats: set[str] = set()
    count = 0

    def stats_for(fid: str) -> FlowStats:
        if fid not in flows:
            flows[fid] = FlowStats(fid, nodes=_order(flowset, fid))
        return flows[fid]

    def close(chat: str, outcome: str, to: str = "") -> None:
        flow, node, _ = open_.pop(chat)
        s = stats_for(flow)
        s.outcomes[outcome] += 1
        if outcome == "dropped" and node:
            s.dropped_at[node] = s.dropped_at.get(node, 0) + 1
        if outcome == "passed_on":
            s.passed_to[to] = s.passed_to.get(to, 0) + 1

    unclear: dict[tuple[str, str], int] = {}
    for chat, name, data, _at in events:
        count += 1
        chats.add(chat)
        fid = str(data.get("flow", ""))
        if name in UNCLEAR and data.get("text"):
            key = (mask_digits(" ".join(str(data["text"]).split()))[:200], UNCLEAR[name])
            unclear[key] = unclear.get(key, 0) + 1
        if name == "flow_started":
            if chat in open_:
                prev_flow, prev_node, _ = open_[chat]
                went = _goes_to(flowset, prev_flow, prev_node, fid)
                close(chat, "passed_on" if went or (went is None and prev_node) else "dropped", fid)
            stats_for(fid).starts += 1
            open_[chat] = (fid, "", set())
        elif name == "node_entered":
            node = str(data.get("node", ""))
            if chat not in open_ or open_[chat][0] != fid:
                continue  # a node of a flow whose start we did not see (before --since)
            f, _, seen = open_[chat]
            if node not in seen:
                seen.add(node)
                s = stats_for(f)
                s.reached[node] = s.reached.get(node, 0) + 1
            open_[chat] = (f, node, seen)
        elif name == "flow_ended" and chat in open_ and open_[chat][0] == fid:
            outcome = str(data.get("outcome", ""))
            close(chat, outcome if outcome in OUTCOMES else "unresolved")
    for chat in list(open_):
        close(chat, "dropped")
    ranked = sorted(unclear.items(), key=lambda kv: (-kv[1], kv[0]))
    return Stats(flows, since, count, len(chats), [(t, n, k) for (t, k), n in ranked])


def _order(flowset: FlowSet | None, fid: str) -> list[str]:
    if flowset is None or fid not in flowset:
        return []
    from bot.operators.common import node_order

    return node_order(flowset[fid])


# ---- text ------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def format_text(stats: Stats) -> str:
    since = stats.since.strftime("%Y-%m-%d %H:%M UTC") if stats.since else "the beginning"
    lines = [f"Since {since}: {stats.conversations} conversations, {stats.events} events.", ""]
    if not stats.flows:
        lines += ["No flow has started yet.", "", *unclear_lines(stats)]
        return "\n".join(lines) + "\n"
    head = (f"{'flow':<22} {'starts':>7} {'resolved':>9} {'unresolved':>11} {'handoffs':>9} {'passed on':>10} "
            f"{'dropped':>8} {'containment':>12}")
    lines += [head, "-" * len(head)]
    for s in stats.ordered():
        o = s.outcomes
        lines.append(f"{s.flow:<22} {s.starts:>7} {o['resolved']:>9} {o['unresolved']:>11} {o['handed_off']:>9} "
                     f"{o['passed_on']:>10} {o['dropped']:>8} {_pct(s.containment):>12}")
    lines += ["", "Drop-off by node (sessions that stopped there / sessions that reached it):"]
    any_drop = False
    for s in stats.ordered():
        drops = [(n, r, d) for n, r, d in s.funnel() if d]
        if drops:
            any_drop = True
            lines.append(f"  {s.flow}: " + ", ".join(f"{n} {d}/{r}" for n, r, d in sorted(drops, key=lambda x: -x[2])))
    if not any_drop:
        lines.append("  none")
    lines.append("")
    lines.append("containment = resolved / starts; passed on = went to another flow by its own button or jump.")
    lines += ["", *unclear_lines(stats)]
    return "\n".join(lines) + "\n"


def unclear_lines(stats: Stats, limit: int = 50) -> list[str]:
    """What buyers wrote that the bot did not understand or was unsure of, most frequent first."""
    lines = ["Not understood or low confidence (digits masked; add them as examples to the right flow):"]
    if not stats.unclear:
        return [*lines, "  none"]
    for text, times, kind in stats.unclear[:limit]:
        lines.append(f"  {times:>4}x  {kind:<15} {text}")
    if len(stats.unclear) > limit:
        lines.append(f"  ... and {len(stats.unclear) - limit} more")
    return lines


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def agents_lines(fig: Any) -> list[str]:
    """The human-handoff figures (bot/handoff/figures.py ContainmentFigures) as text lines."""
    lines = [f"Conversations: {fig.conversations}; "
             f"contained by the bot: {fig.contained} ({_pct(fig.containment_rate)}).",
             f"Handoffs that reached the agents' group: {fig.handoffs} ({fig.handoffs_open} open, "
             f"{fig.unanswered_handoffs} never answered).",
             f"Time to first agent reply: median {_minutes(fig.first_reply.median_seconds)}, "
             f"max {_minutes(fig.first_reply.max_seconds)} ({fig.first_reply.count} replied).",
             f"Time to close: median {_minutes(fig.time_to_close.median_seconds)} ({fig.time_to_close.count} closed).",
             "Ratings: " + (f"{fig.ratings.average:.2f} average from {fig.ratings.count} "
                            f"({', '.join(f'{k}: {v}' for k, v in sorted(fig.ratings.by_score.items()))})"
                            if fig.ratings.count else "none yet") + "."]
    if fig.handoffs_by_flow:
        by_flow = sorted(fig.handoffs_by_flow.items(), key=lambda kv: -kv[1])
        lines.append("By flow: " + ", ".join(f"{k} {v}" for k, v in by_flow))
    if fig.handoffs_by_reason:
        by_reason = sorted(fig.handoffs_by_reason.items(), key=lambda kv: -kv[1])
        lines.append("By reason: " + ", ".join(f"{k} {v}" for k, v in by_reason))
    if fig.staff_requests:
        lines.append("Requests to staff (open / seen / done / declined): " + ", ".join(
            f"{action} {st.get('open', 0)}/{st.get('seen', 0)}/{st.get('done', 0)}/{st.get('declined', 0)}"
            for action, st in fig.staff_requests.items())
            + f"; time to an outcome: median {_minutes(fig.staff_time_to_outcome.median_seconds)}.")
        if fig.staff_declined_by_reason:
            declined = sorted(fig.staff_declined_by_reason.items())
            lines.append("Declined because: " + ", ".join(f"{k} {v}" for k, v in declined))
    return lines


# ---- HTML ------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _outcome_bar(s: FlowStats, width: int = 500) -> str:
    total = max(sum(s.outcomes.values()), 1)
    x = 0.0
    parts = []
    for o in OUTCOMES:
        n = s.outcomes[o]
        if not n:
            continue
        w = width * n / total
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="26" fill="{COLORS[o]}">'
                     f"<title>{_e(LABELS[o])}: {n} ({n * 100 / total:.0f}%)</title></rect>")
        if w > 34:
            parts.append(f'<text x="{x + w / 2:.1f}" y="17.5" text-anchor="middle" class="in">'
                         f'{n * 100 / total:.0f}%</text>')
        x += w
    return (f'<svg class="bar" width="{width}" height="26" viewBox="0 0 {width} 26" role="img" '
            f'aria-label="outcomes of {_e(s.flow)}">{"".join(parts)}</svg>')


def _funnel(s: FlowStats, width: int = 500) -> str:
    rows = s.funnel()
    if not rows:
        return '<p class="muted">No node entered.</p>'
    label_w, bar_w, row_h = 185, width - 185 - 80, 24
    top = max(s.starts, max(r for _, r, _ in rows), 1)
    out = []
    for i, (node, reached, dropped) in enumerate(rows):
        y = i * row_h
        w = bar_w * reached / top
        dw = bar_w * dropped / top
        name = node if len(node) <= 24 else node[:23] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="node"><title>{_e(node)}</title>'
                   f"{_e(name)}</text>")
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 6}" fill="#7aa7e0">'
                   f"<title>{_e(node)}: reached by {reached}</title></rect>")
        if dropped:
            out.append(f'<rect x="{label_w + w - dw:.1f}" y="{y + 3}" width="{max(dw, 2):.1f}" height="{row_h - 6}" '
                       f'fill="{COLORS["dropped"]}"><title>{_e(node)}: {dropped} dropped here</title></rect>')
        note = f"{reached}" + (f"  −{dropped}" if dropped else "")
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" class="{"drop" if dropped else "num"}">'
                   f'{_e(note)}</text>')
    h = len(rows) * row_h
    return (f'<svg class="funnel" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" '
            f'aria-label="nodes reached in {_e(s.flow)}">{"".join(out)}</svg>')


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",sans-serif;\
margin:24px;color:#1d2430;background:#f5f7fa}
h1{font-size:22px;margin:0 0 4px} .muted{color:#6b7480}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:12px 0 18px}\
.legend span{display:inline-flex;align-items:center;gap:6px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px;align-items:start}
svg.bar,svg.funnel{width:100%;height:auto;display:block}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:14px 16px}
.card h2{font-size:17px;margin:0 0 8px;font-family:ui-monospace,Menlo,Consolas,monospace}
.kpis{display:flex;gap:18px;margin-bottom:10px}.kpi b{display:block;font-size:20px}.kpi{color:#6b7480;font-size:12px}
.kpi.good b{color:#2e9d55}.kpi.mid b{color:#c68a12}.kpi.warn b{color:#d64545}
svg text{font-size:12px;fill:#1d2430}svg text.in{fill:#fff;font-weight:600}svg text.drop{fill:#d64545;font-weight:600}
svg text.node{font-family:ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;margin:8px 0 20px;background:#fff}\
th,td{padding:5px 10px;border-bottom:1px solid #e3e8ee;text-align:right}
th:first-child,td:first-child{text-align:left;font-family:ui-monospace,Menlo,Consolas,monospace}th{background:#eef2f6}
h3{font-size:13px;margin:12px 0 4px;color:#4a5360;font-weight:600}
"""


def format_html(stats: Stats, *, title: str = "Ozon bot: flow statistics", generated: datetime | None = None,
                agents: Any = None) -> str:
    generated = generated or datetime.now(UTC)
    since = stats.since.strftime("%Y-%m-%d %H:%M UTC") if stats.since else "the beginning"
    legend = "".join(f'<span><i style="background:{COLORS[o]}"></i>{_e(LABELS[o])}</span>' for o in OUTCOMES)
    rows = []
    for s in stats.ordered():
        o = s.outcomes
        rows.append(f"<tr><td>{_e(s.flow)}</td><td>{s.starts}</td><td>{o['resolved']}</td><td>{o['unresolved']}</td>"
                    f"<td>{o['handed_off']}</td><td>{o['passed_on']}</td><td>{o['dropped']}</td>"
                    f"<td>{_pct(s.containment)}</td></tr>")
    cards = []
    for s in stats.ordered():
        c = s.containment
        drop_rate = s.outcomes["dropped"] / s.starts if s.starts else 0
        passed = ", ".join(f"{_e(k)} {v}" for k, v in sorted(s.passed_to.items(), key=lambda kv: -kv[1]))
        cards.append(
            f'<section class="card"><h2>{_e(s.flow)}</h2>'
            f'<div class="kpis"><div class="kpi"><b>{s.starts}</b>starts</div>'
            f'<div class="kpi {"" if c is None else "good" if c >= 0.5 else "mid"}"><b>{_pct(c)}</b>containment</div>'
            f'<div class="kpi"><b>{s.resolved}</b>resolved</div>'
            f'<div class="kpi"><b>{s.handoffs}</b>to agents</div>'
            f'<div class="kpi{" warn" if drop_rate >= 0.25 else ""}"><b>{s.outcomes["dropped"]}</b>dropped</div></div>'
            f"<h3>How sessions ended</h3>{_outcome_bar(s)}"
            + (f'<p class="muted">passed on to: {passed}</p>' if passed else "")
            + f"<h3>Nodes reached (red: buyers who stopped there)</h3>{_funnel(s)}</section>")
    body = "".join(cards) if cards else '<p class="muted">No flow has started yet.</p>'
    table = ("<table><tr><th>flow</th><th>starts</th><th>resolved</th><th>unresolved</th><th>handoffs</th>"
             "<th>passed on</th><th>dropped</th><th>containment</th></tr>" + "".join(rows) + "</table>") if rows else ""
    unclear_html = ("<h2>Not understood or low confidence</h2><p class=\"muted\">Digits masked, most frequent first: "
                    "add these as examples to the right flow (flows/*.yaml, triggers.examples).</p>"
                    "<table><tr><th>times</th><th>kind</th><th>text</th></tr>"
                    + "".join(f"<tr><td>{n}</td><td>{_e(k)}</td><td>{_e(t)}</td></tr>"
                              for t, n, k in stats.unclear[:200])
                    + "</table>" if stats.unclear else "")
    agents_html = ("<h2>Human agents</h2><ul>" + "".join(f"<li>{_e(line)}</li>" for line in agents_lines(agents))
                   + "</ul>" if agents is not None else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p class="muted">Since {_e(since)} · {stats.conversations} conversations · {stats.events} events · \
generated {generated:%Y-%m-%d %H:%M UTC}.
Containment = sessions resolved by the bot / sessions started.</p>
<div class="legend">{legend}</div>
{table}
{unclear_html}
{agents_html}
<div class="grid">{body}</div>
</body></html>
"""
