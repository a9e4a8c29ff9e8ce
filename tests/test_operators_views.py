"""`flows show` and `flows graph` (mermaid, dot) on the shipped flows, and `ozonbot stats`."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.events import Buyer, Press, Start
from bot.engine.loader import load_flows
from bot.operators.graph import render_graph, write_graphs
from bot.operators.show import show_flow
from bot.operators.stats import compute, format_html, format_text, parse_since, read_events
from bot.settings import ROOT


@pytest.fixture(scope="module")
def flowset(catalogs):
    return load_flows(ROOT / "flows", catalogs)


def test_show_reads_like_the_conversation(flowset, catalogs):
    ru = show_flow(flowset["language"], catalogs, "ru")
    assert "Flow language: Смена языка" in ru
    assert "[pick] choice" in ru and "bot says: Выберите язык" in ru
    assert "[ Русский ] -> set_ru" in ru
    assert "-> flow main_menu" in ru
    zh = show_flow(flowset["main_menu"], catalogs, "zh")
    assert "您好" in zh and "-> flow talk_to_agent" in zh


def test_show_keeps_placeholders(flowset, catalogs):
    found = False
    for flow in flowset.flows.values():
        text = show_flow(flow, catalogs, "ru")
        if re.search(r"\{\w+\}", text):
            found = True
            assert "with {" in text  # which expression fills each placeholder
    assert found


def test_cli_show(capsys):
    assert main(["flows", "show", "talk_to_agent", "--lang", "zh"]) == 0
    assert "人工" in capsys.readouterr().out
    assert main(["flows", "show", "no_such_flow"]) == 2


def test_mermaid_graph_labels_nodes_and_edges(flowset, catalogs):
    flow = flowset["language"]
    mm = render_graph(flow, catalogs, "zh", "mermaid")
    assert mm.splitlines()[3] == "flowchart TD"
    pick = flow.nodes[flow.start]
    option = pick.options[0]
    label = catalogs.text(option.label.msg, "zh")
    assert f'n_{flow.start} -->|"{label}"| n_{option.goto}' in mm  # edge labelled with the button
    assert re.search(rf'n_{flow.start}\[/"<b>{flow.start}</b><br/>', mm)  # choice node with its text
    assert catalogs.text(pick.say.msg, "zh")[:6] in mm
    assert "f_main_menu" in mm
    # ids never collide with mermaid keywords such as `end`
    assert not re.search(r"^\s+end\b", mm, re.M)


def test_dot_graph_is_balanced_and_escaped(flowset, catalogs):
    for fid in flowset.flows:
        dot = render_graph(flowset[fid], catalogs, "ru", "dot")
        assert dot.startswith(f'digraph "{fid}" {{') and dot.rstrip().endswith("}")
        for line in dot.splitlines()[1:-1]:
            assert (line.count('"') - line.count('\\"')) % 2 == 0, line  # every string closed
            assert line.rstrip().endswith(";"), line


def test_graphs_are_written_one_per_flow(tmp_path: Path, flowset, catalogs):
    written = write_graphs(flowset, catalogs, "zh", "mermaid", tmp_path / "graphs")
    assert {p.stem for p in written} == set(flowset.flows)
    assert all(p.suffix == ".mmd" for p in written)
    assert main(["flows", "graph", "--format", "dot", "--out", str(tmp_path / "dot")]) == 0
    assert (tmp_path / "dot" / "main_menu.dot").exists()
    assert main(["flows", "graph", "main_menu", "--out", str(tmp_path)]) == 2


# ---- stats ------------------------------------------------------------------------------------
async def _conversations(app) -> None:
    ru = Buyer("s1", language_code="ru")
    await app.handle("s1", Start(), ru)                      # menu
    await app.handle("s1", Press("agent", "menu"), ru)       # -> talk_to_agent: handed off
    b2 = Buyer("s2", language_code="zh")
    await app.handle("s2", Start(), b2)
    await app.handle("s2", Press("lang", "menu"), b2)        # -> language, stops at pick: dropped
    b3 = Buyer("s3", language_code="ru")
    await app.handle("s3", Start(), b3)                      # stays at the menu: dropped


async def test_stats_from_the_events_table(app, settings, capsys):
    await asyncio.wait_for(_conversations(app), 30)
    events = read_events(settings.store_path)
    stats = compute(events, app.registry.current)
    menu, agent, lang = stats.flows["main_menu"], stats.flows["talk_to_agent"], stats.flows["language"]
    assert menu.starts == 3 and menu.outcomes["passed_on"] == 2 and menu.outcomes["dropped"] == 1
    assert menu.passed_to == {"talk_to_agent": 1, "language": 1}
    assert menu.containment is None  # the menu routes; it never ends a conversation itself
    assert agent.starts == 1 and agent.handoffs == 1 and agent.containment == 0.0
    assert lang.outcomes["dropped"] == 1 and lang.dropped_at == {"pick": 1}
    assert menu.funnel() == [("menu", 3, 1)]
    text = format_text(stats)
    assert "talk_to_agent" in text and "pick 1/1" in text
    page = format_html(stats)
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched

    def cli(*argv: str):  # the command is synchronous, as when typed in a shell: run it off this loop
        return asyncio.to_thread(main, list(argv))

    html_file = settings.data_dir / "stats.html"
    assert await cli("stats", "--db", str(settings.store_path), "--html", str(html_file)) == 0
    out = capsys.readouterr().out
    assert "main_menu" in out and html_file.read_text(encoding="utf-8").count("<svg") >= 6
    assert "Human agents:" in out and "contained by the bot" in out
    assert "Human agents" in html_file.read_text(encoding="utf-8")
    assert await cli("stats", "--db", str(settings.store_path), "--since", "2999-01-01") == 0
    assert "No flow has started yet." in capsys.readouterr().out
    assert await cli("stats", "--since", "yesterday") == 2
    assert await cli("stats", "--db", str(settings.data_dir / "nope.sqlite3")) == 1


def test_since_parsing():
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T10:30") == datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="not a date"):
        parse_since("01.11.2026")


def test_outcomes_without_flows_are_guessed_from_the_events():
    events = [("c", "flow_started", {"flow": "a"}, 1.0), ("c", "node_entered", {"flow": "a", "node": "x"}, 1.0),
              ("c", "flow_started", {"flow": "b"}, 2.0), ("c", "node_entered", {"flow": "b", "node": "y"}, 2.0),
              ("c", "flow_ended", {"flow": "b", "node": "y", "outcome": "resolved"}, 2.0)]
    stats = compute(events)
    assert stats.flows["a"].outcomes["passed_on"] == 1
    assert stats.flows["b"].resolved == 1 and stats.flows["b"].containment == 1.0
