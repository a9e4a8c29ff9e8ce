"""flows/flow.schema.json is generated from the models and kept in sync; every flow file points
editors at it with `# yaml-language-server: $schema=...`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.engine.loader import flow_files
from bot.operators.schema import (
    HEADER_PREFIX,
    SCHEMA_FILE,
    add_missing_headers,
    expected_header,
    flow_schema,
    missing_headers,
    schema_text,
)
from bot.settings import ROOT

FLOWS = ROOT / "flows"


def test_committed_schema_matches_the_models():
    committed = (FLOWS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "flows/flow.schema.json is stale: run `ozonbot flows schema`"


def test_schema_describes_every_node_kind_and_bare_message_ids():
    schema = flow_schema()
    kinds = {d["properties"]["kind"]["const"] for name, d in schema["$defs"].items() if name.endswith("Node")}
    assert kinds == {"say", "choice", "ask", "lookup_order", "switch", "action", "handoff", "end", "goto"}
    assert {"type": "string", "description": "catalog message id"} in schema["$defs"]["Message"]["anyOf"]
    assert "else" in schema["$defs"]["SwitchNode"]["properties"]  # by alias, as written in YAML
    assert "version" not in schema["properties"] and "file" not in schema["properties"]


def test_every_flow_file_starts_with_the_schema_header():
    """A validator-like check: file:1:1 and the exact line to add."""
    problems = [f"{p.relative_to(ROOT)}:1:1: first line must be '{want}'" for p, want in missing_headers(FLOWS)]
    assert not problems, "\n".join(problems)


def test_header_is_relative_to_the_schema(tmp_path: Path):
    (tmp_path / "system").mkdir()
    assert expected_header(tmp_path / "a.yaml", tmp_path) == HEADER_PREFIX + "flow.schema.json"
    assert expected_header(tmp_path / "system" / "b.yaml", tmp_path) == HEADER_PREFIX + "../flow.schema.json"
    (tmp_path / "a.yaml").write_text("id: a\n", encoding="utf-8")
    (tmp_path / "system" / "b.yaml").write_text("id: b\n", encoding="utf-8")
    assert [p.name for p, _ in missing_headers(tmp_path)] == ["a.yaml", "b.yaml"]
    add_missing_headers(tmp_path)
    assert missing_headers(tmp_path) == []
    header = (tmp_path / "system" / "b.yaml").read_text(encoding="utf-8")
    assert header.startswith("# yaml-language-server: $schema=../")


def test_shipped_flows_validate_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(flow_schema())
    for path in flow_files(FLOWS):
        errors = [f"{path.name}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
        assert not errors, "\n".join(errors)


def test_flows_schema_command_writes_and_checks(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path))
    (tmp_path / "a.yaml").write_text(HEADER_PREFIX + "flow.schema.json\nid: a\n", encoding="utf-8")
    assert main(["flows", "schema", "--check"]) == 1  # no schema yet
    assert main(["flows", "schema"]) == 0
    assert json.loads((tmp_path / SCHEMA_FILE).read_text(encoding="utf-8"))["title"] == "Ozon bot flow"
    assert main(["flows", "schema", "--check"]) == 0
    (tmp_path / "b.yaml").write_text("id: b\n", encoding="utf-8")
    assert main(["flows", "schema", "--check"]) == 1
    assert "b.yaml:1:1: first line should be" in capsys.readouterr().err
