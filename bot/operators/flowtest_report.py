"""What `ozonbot flows test` found: results per case and step, node coverage, the text report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.engine.flowset import FlowSet
from bot.engine.problems import FlowProblem
from bot.operators.flowtest_format import Case


# ---- results ----------------------------------------------------------------------------------
@dataclass
class StepLog:
    """What happened at one step: for the failure report."""

    index: int
    line: int
    action: str  # 'send "..."' or 'press "..."'
    texts: list[str] = field(default_factory=list)
    msgs: list[str] = field(default_factory=list)  # the message ids of those texts ("" for none)
    actions: list[dict] = field(default_factory=list)  # what the store recorded as done during the step
    buttons: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    at: str = ""  # flow:node
    entered: list[str] = field(default_factory=list)  # flow:node, in order


@dataclass
class CaseResult:
    case: Case
    passed: bool
    failures: list[str] = field(default_factory=list)
    steps: list[StepLog] = field(default_factory=list)
    reached: set[tuple[str, str]] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.case.file, "line": self.case.line, "name": self.case.name, "lang": self.case.lang,
                "passed": self.passed, "failures": self.failures,
                "steps": [{"step": s.index, "line": s.line, "action": s.action, "at": s.at, "says": s.texts,
                           "buttons": s.buttons, "effects": s.effects, "entered": s.entered} for s in self.steps]}


@dataclass
class Report:
    results: list[CaseResult]
    problems: list[FlowProblem]
    coverage: dict[str, dict[str, Any]]  # flow id -> {"nodes": [...], "reached": [...], "missing": [...]}

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)

    @property
    def missing_nodes(self) -> list[tuple[str, str]]:
        return [(fid, n) for fid, c in sorted(self.coverage.items()) for n in c["missing"]]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "passed": sum(r.passed for r in self.results),
                "failed": sum(not r.passed for r in self.results),
                "problems": [p.as_dict() for p in self.problems],
                "tests": [r.as_dict() for r in self.results], "coverage": self.coverage}


def coverage(flowset: FlowSet, reached: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Per flow: its nodes, those the tests reached and those they did not."""
    out = {}
    for fid in sorted(flowset.flows):
        nodes = list(flowset[fid].nodes)
        got = [n for n in nodes if (fid, n) in reached]
        out[fid] = {"nodes": nodes, "reached": got, "missing": [n for n in nodes if (fid, n) not in reached]}
    return out


def listed(items: list[str]) -> str:
    """["a", "b"] for a failure line, or (none)."""
    return "[" + ", ".join(f'"{x}"' for x in items) + "]" if items else "(none)"


def quoted(texts: list[str]) -> str:
    """The bot's texts indented under a failure line."""
    if not texts:
        return "      (nothing)"
    return "\n".join("      | " + line for t in texts for line in (t.splitlines() or [""]))


# ---- text report ------------------------------------------------------------------------------
def format_report(report: Report, *, verbose: bool = False) -> str:
    lines: list[str] = [str(p) for p in report.problems]
    for r in report.results:
        where = f"{r.case.file}:{r.case.line}"
        if r.passed:
            lines.append(f"PASS {where} {r.case.name}")
            if not verbose:
                continue
        else:
            lines.append(f"FAIL {where} {r.case.name}")
        for s in r.steps:
            lines.append(f"    {s.index:>2}. {s.action}  -> at {s.at or '-'}")
            if (not r.passed or verbose) and s.entered:
                lines.append("          passed through: " + " > ".join(s.entered))
            if not r.passed or verbose:
                for t in s.texts:
                    lines.append("          bot: " + t.replace("\n", "\n               "))
                if s.buttons:
                    lines.append("          buttons: " + listed(s.buttons))
                if s.effects:
                    lines.append("          effects: " + ", ".join(s.effects))
        for f in r.failures:
            lines.append("  ✗ " + f)
    passed = sum(r.passed for r in report.results)
    failed = len(report.results) - passed
    lines.append("")
    lines.append("Coverage (nodes reached by these tests, from node_entered events):")
    total = sum(len(c["nodes"]) for c in report.coverage.values())
    got = sum(len(c["reached"]) for c in report.coverage.values())
    for fid, c in report.coverage.items():
        n, k = len(c["nodes"]), len(c["reached"])
        mark = "ok" if k == n else "  "
        line = f"  {mark} {fid:<24} {k:>3}/{n:<3}"
        if c["missing"]:
            line += "  not reached: " + ", ".join(c["missing"])
        lines.append(line)
    lines.append(f"  {got}/{total} nodes reached" + (f"; {total - got} not reached by any test" if got < total else ""))
    lines.append("")
    summary = f"{passed} passed, {failed} failed"
    if report.problems:
        summary += f", {len(report.problems)} problem(s) in test files"
    lines.append(summary + ".")
    return "\n".join(lines) + "\n"
