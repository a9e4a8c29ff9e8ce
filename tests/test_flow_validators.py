"""Every flow check, proven by a broken snippet: the problem names the file, the line and the fix."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.engine.loader import load_flows
from bot.engine.problems import FlowLoadError, FlowProblem
from bot.settings import ROOT


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """A copy of the shipped flows, so a test can add one broken file."""
    target = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", target, ignore=shutil.ignore_patterns("tests", "graphs"))
    return target


def problems_for(flows_dir: Path, catalogs, yaml_text: str, name: str = "broken.yaml") -> list[FlowProblem]:
    (flows_dir / name).write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
    with pytest.raises(FlowLoadError) as info:
        load_flows(flows_dir, catalogs)
    return info.value.problems


def only(problems: list[FlowProblem], check: str) -> FlowProblem:
    found = [p for p in problems if p.check == check]
    assert found, f"no {check} problem in {[str(p) for p in problems]}"
    return found[0]


GOOD_HEAD = """
id: broken
title: menu.title
start: a
nodes:
"""


def test_shipped_flows_load(catalogs):
    flowset = load_flows(ROOT / "flows", catalogs)
    assert {"main_menu", "order_status", "internal_error", "backend_unavailable",
            "not_understood"} <= set(flowset.flows)


def test_yaml_syntax_error_names_line_and_column(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs, "id: x\nnodes:\n  a: {kind: say\n  b: 1\n"), "yaml")
    assert p.file == "flows/broken.yaml" and p.line in (3, 4) and "YAML syntax error" in p.message


def test_duplicate_key(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs,
                          GOOD_HEAD + "  a: {kind: end, resolved: true}\n  a: {kind: end, resolved: false}\n"), "yaml")
    assert (p.line, p.message) == (6, "duplicate key 'a'")


def test_unknown_field_is_a_schema_error_at_its_line(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs,
                          GOOD_HEAD + "  a:\n    kind: end\n    resolved: true\n    colour: red\n"), "schema")
    assert p.line == 8 and "colour" in p.message and "remove this key" in p.hint and p.node == "a"


def test_unknown_node_kind(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs, GOOD_HEAD + "  a: {kind: teleport}\n"), "schema")
    assert p.line == 5 and "kind must be one of" in p.hint


def test_unknown_target_node_with_suggestion(flows_dir, catalogs):
    text = GOOD_HEAD + "  a: {kind: say, say: menu.title, next: finsh}\n  finish: {kind: end, resolved: true}\n"
    p = only(problems_for(flows_dir, catalogs, text), "targets")
    assert p.line == 5 and p.node == "a" and "unknown node 'finsh'" in p.message and "finish" in p.hint


def test_unknown_target_flow(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs, GOOD_HEAD + "  a: {kind: say, say: menu.title, next: 'flow:nowhere'}\n"),
             "targets")
    assert "unknown flow 'nowhere'" in p.message


def test_unreachable_node(flows_dir, catalogs):
    text = GOOD_HEAD + "  a: {kind: end, resolved: true}\n  orphan: {kind: end, resolved: false}\n"
    p = only(problems_for(flows_dir, catalogs, text), "reachable")
    assert (p.line, p.node) == (6, "orphan")


def test_switch_without_else(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: switch
    cases:
      - {when: 'order.status == "delivered"', goto: b}
  b: {kind: end, resolved: true}
"""
    p = only(problems_for(flows_dir, catalogs, text), "switch_else")
    assert p.line == 5 and "else" in p.hint


def test_loop_that_never_waits(flows_dir, catalogs):
    text = GOOD_HEAD + """  a: {kind: say, say: menu.title, next: b}
  b: {kind: say, say: menu.title, next: a}
"""
    p = only(problems_for(flows_dir, catalogs, text), "loops_wait")
    assert "never waits" in p.message and "a -> b -> a" in p.message


def test_condition_unknown_fact_with_hint_and_exact_column(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: switch
    cases:
      - when: order.statuss == "delivered"
        goto: b
    else: b
  b: {kind: end, resolved: true}
"""
    p = only(problems_for(flows_dir, catalogs, text), "expressions")
    assert p.line == 8 and p.column == 15 and "unknown order fact 'statuss'" in p.message and "status" in p.hint


def test_condition_unknown_status_value(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: switch
    cases: [{when: 'order.status in ["delivred"]', goto: b}]
    else: b
  b: {kind: end, resolved: true}
"""
    p = only(problems_for(flows_dir, catalogs, text), "expressions")
    assert "'delivred' is not a known value" in p.message and "delivered" in p.hint


def test_condition_type_error(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: switch
    cases: [{when: 'order.days_in_status > "three"', goto: b}]
    else: b
  b: {kind: end, resolved: true}
"""
    assert "cannot compare int with str" in only(problems_for(flows_dir, catalogs, text), "expressions").message


def test_unknown_variable(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: switch
    cases: [{when: 'vars.colour == "red"', goto: b}]
    else: b
  b: {kind: end, resolved: true}
"""
    assert "unknown variable 'colour'" in only(problems_for(flows_dir, catalogs, text), "expressions").message


def test_message_missing_in_a_language(flows_dir, catalogs):
    p = only(problems_for(flows_dir, catalogs, GOOD_HEAD + "  a: {kind: end, resolved: true, say: no.such.message}\n"),
             "messages")
    assert p.line == 5 and "'no.such.message' is missing in" in p.message and "messages.po" in p.hint


def test_missing_and_extra_placeholders(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: end
    resolved: true
    say: {msg: status.summary, params: {status: order.status_label, colour: '"red"'}}
"""
    problems = [p for p in problems_for(flows_dir, catalogs, text) if p.check == "placeholders"]
    text_all = " ".join(p.message for p in problems)
    assert "needs params: order_number" in text_all and "no placeholder for: colour" in text_all


def test_plural_message_needs_count(flows_dir, catalogs):
    text = GOOD_HEAD + "  a: {kind: end, resolved: true, say: {msg: lookup.phone_wrong, params: {left: '2'}}}\n"
    assert "has plural forms but no count" in only(problems_for(flows_dir, catalogs, text), "plurals").message


def test_unknown_action_and_missing_args(flows_dir, catalogs):
    text = GOOD_HEAD + """  a: {kind: action, action: urge_seler, next: b}
  b: {kind: action, action: urge_seller, next: c}
  c: {kind: end, resolved: true}
"""
    problems = [p for p in problems_for(flows_dir, catalogs, text) if p.check == "actions"]
    assert any("unknown action 'urge_seler'" in p.message and "urge_seller" in p.hint for p in problems)
    assert any("needs args: posting" in p.message and p.line == 6 for p in problems)


def test_duplicate_flow_id(flows_dir, catalogs):
    text = "title: menu.title\nid: main_menu\nstart: a\nnodes:\n  a: {kind: end, resolved: true}\n"
    p = only(problems_for(flows_dir, catalogs, text, name="zz_copy.yaml"), "unique_ids")
    assert (p.file, p.line) == ("flows/zz_copy.yaml", 2) and "already used by flows/main_menu.yaml" in p.message


def test_missing_required_system_flow(flows_dir, catalogs):
    (flows_dir / "system" / "not_understood.yaml").unlink()
    with pytest.raises(FlowLoadError) as info:
        load_flows(flows_dir, catalogs)
    assert any(p.check == "system_flows" and "not_understood" in p.message for p in info.value.problems)


def test_every_problem_is_reported_at_once(flows_dir, catalogs):
    text = GOOD_HEAD + """  a: {kind: say, say: no.such, next: nowhere}
  orphan: {kind: end, resolved: true}
"""
    checks = {p.check for p in problems_for(flows_dir, catalogs, text)}
    assert {"messages", "targets", "reachable"} <= checks


def test_problem_line_format():
    p = FlowProblem("flows/x.yaml", 3, 7, "switch has no 'else'", "add else", "x", "n", "switch_else")
    assert str(p) == "flows/x.yaml:3:7: switch has no 'else' [flow x node n] (add else)"


def test_yaml_yes_no_read_as_booleans_get_a_quoting_hint(flows_dir, catalogs):
    text = GOOD_HEAD + """  a:
    kind: choice
    say: menu.title
    options:
      - {id: yes, label: common.to_menu, goto: b}
  b: {kind: end, resolved: true}
"""
    p = only(problems_for(flows_dir, catalogs, text), "schema")
    assert p.line == 9 and "quotes" in p.hint
