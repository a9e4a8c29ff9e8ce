"""The operators' conversation tests (flows/tests/*.yaml) all pass, and the runner reports
failures with what was expected against what the bot said."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.loader import load_flows
from bot.operators.flowtest_format import find_test_files, parse_test_file
from bot.operators.flowtest_report import format_report
from bot.operators.flowtests import run_tests
from bot.settings import ROOT

TESTS = ROOT / "flows" / "tests"


@pytest.fixture(scope="module")
def flowset(catalogs):
    return load_flows(ROOT / "flows", catalogs)


def run(flowset, catalogs, files, **kw):
    return asyncio.run(asyncio.wait_for(run_tests(flowset, catalogs, files, base=ROOT, **kw), 600))


@pytest.fixture(scope="module")
def shipped_report(flowset, catalogs):
    files = find_test_files(TESTS)
    assert files, "no flows/tests/*.yaml"
    return run(flowset, catalogs, files)


def test_every_operator_test_passes(shipped_report):
    report = shipped_report
    assert not report.problems, "\n".join(map(str, report.problems))
    failed = [r for r in report.results if not r.passed]
    assert not failed, format_report(report)
    assert len(report.results) >= 20


def test_system_and_menu_flows_are_fully_covered(flowset, catalogs):
    mine = [TESTS / f for f in ("main_menu.yaml", "language.yaml", "talk_to_agent.yaml", "system_flows.yaml")]
    report = run(flowset, catalogs, mine)
    for fid in ("main_menu", "language", "talk_to_agent", "internal_error", "backend_unavailable",
                "not_understood", "owner_locked"):
        assert report.coverage[fid]["missing"] == [], (fid, report.coverage[fid])


FAILING = """
tests:
  - name: wrong expectations
    lang: ru
    order: packaging_on_time
    steps:
      - send: "/start"
      - press: "Язык"
        expect:
          flow: language
          node: done
          says: ["Bonjour"]
          buttons: ["Deutsch"]
          effects: ["end:resolved"]
  - name: a button that is not there
    steps:
      - send: "/start"
      - press: "Купить слона"
  - name: unknown order key
    order: packaging_ontime
    steps:
      - send: "{order_number}"
"""


def test_failures_say_what_was_expected_and_what_the_bot_said(tmp_path: Path, flowset, catalogs):
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING, encoding="utf-8")
    report = run(flowset, catalogs, [path])
    assert not report.ok and [r.passed for r in report.results] == [False, False, False]
    first, second, third = report.results
    text = "\n".join(first.failures)
    assert "step 2 (line 8)" in text
    assert "expected node language:done, but it is at language:pick" in text
    second_text = "\n".join(second.failures)
    assert 'no button containing "Купить слона"' in second_text and "Язык" in second_text
    assert "did you mean 'packaging_on_time'" in third.failures[0]
    out = format_report(report)
    assert "FAIL " in out and "bot: " in out and "buttons: [" in out


def test_says_buttons_and_effects_are_each_checked(tmp_path: Path, flowset, catalogs):
    path = tmp_path / "t.yaml"
    path.write_text("""
tests:
  - name: each expectation
    steps:
      - send: "/lang"
        expect: {says: ["Bonjour"], buttons: ["Deutsch"], effects: ["end:resolved"]}
""", encoding="utf-8")
    failures = run(flowset, catalogs, [path]).results[0].failures
    assert any('expected the bot to say "Bonjour"; it said:' in f and "| Выберите язык" in f for f in failures)
    assert any('expected a button containing "Deutsch"; buttons: ["中文' in f for f in failures)
    assert any("expected effect end:resolved; effects: (none)" in f for f in failures)


def test_bad_test_files_are_problems_with_a_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("tests:\n  - name: x\n    steps:\n      - send: a\n        press: b\n      - sned: c\n",
                    encoding="utf-8")
    cases, problems = parse_test_file(path)
    assert cases == []
    assert {p.line for p in problems} == {4, 6}
    assert any("exactly one of 'send', 'press' or 'flow'" in p.message for p in problems)
    assert any("sned" in p.message for p in problems)


def test_cli_exit_codes_and_json(tmp_path: Path, capsys):
    ok = TESTS / "talk_to_agent.yaml"
    assert main(["flows", "test", str(ok)]) == 0
    assert "passed, 0 failed" in capsys.readouterr().out
    assert main(["flows", "test", "--json", str(ok)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["failed"] == 0 and "talk_to_agent" in data["coverage"]
    bad = tmp_path / "failing.yaml"
    bad.write_text(FAILING, encoding="utf-8")
    assert main(["flows", "test", str(bad)]) == 1
    assert main(["flows", "test", str(tmp_path / "missing.yaml")]) == 2


def test_every_node_of_every_shipped_flow_is_reached_by_some_test(shipped_report):
    report = shipped_report
    assert not report.missing_nodes, "nodes no test reaches (add flows/tests/coverage_*.yaml): " + ", ".join(
        f"{f}:{n}" for f, n in report.missing_nodes)


def test_patch_and_entered(tmp_path: Path, flowset, catalogs):
    path = tmp_path / "patch.yaml"
    path.write_text("""
tests:
  - name: patched order, passes through a node
    order: packaging_on_time
    patch: {shipment_date: null}
    steps:
      - send: "/order {order_number}"
      - send: "{phone}"
        expect: {flow: order_status, entered: [before_packing_nodate, "order_status:route"]}
  - name: wrong entered
    order: packaging_on_time
    steps:
      - send: "/order {order_number}"
        expect: {flow: order_status, entered: [route]}
  - name: bad patch
    order: packaging_on_time
    patch: {shipment_date: "not a date", colour: red}
    steps:
      - send: "/start"
""", encoding="utf-8")
    ok, wrong, bad = run(flowset, catalogs, [path]).results
    assert ok.passed, ok.failures
    assert not wrong.passed and "expected to pass through order_status:route; passed through:" in wrong.failures[0]
    assert not bad.passed
    assert any("shipment_date" in f for f in bad.failures) and any("colour" in f for f in bad.failures)
