"""The JSON Schema of flow files, generated from the pydantic models (editors use it to complete
and check YAML as operators type: `# yaml-language-server: $schema=flow.schema.json`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.engine.flow import Flow

SCHEMA_FILE = "flow.schema.json"
HEADER_PREFIX = "# yaml-language-server: $schema="
_LOADER_ONLY = ("version", "file")  # filled by the loader, never written in YAML


def flow_schema() -> dict[str, Any]:
    """The schema as a dict: the Flow model with its node union, adjusted to what YAML accepts."""
    schema = copy.deepcopy(Flow.model_json_schema(by_alias=True))
    for name in _LOADER_ONLY:
        schema["properties"].pop(name, None)
        if name in schema.get("required", []):
            schema["required"].remove(name)
    defs = schema.get("$defs", {})
    if "Message" in defs:
        # A message is written either as a bare catalog id or as {msg, params, count}.
        obj = defs["Message"]
        defs["Message"] = {
            "title": "Message",
            "description": "A catalog message id (`cancel_order.shipped`) or a mapping "
                           "{msg: id, params: {name: expression}, count: expression}.",
            "anyOf": [{"type": "string", "description": "catalog message id"},
                      {k: v for k, v in obj.items() if k not in ("title", "description")}],
        }
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "title": "Ozon bot flow", "description": "One flow file: flows/<id>.yaml (see DESIGN.md, section 2)."}
    out.update({k: v for k, v in schema.items() if k not in ("title", "description")})
    return out


def schema_text() -> str:
    return json.dumps(flow_schema(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def write_schema(flows_dir: str | Path) -> tuple[Path, bool]:
    """(Re)write flows/flow.schema.json. Returns (path, changed)."""
    path = Path(flows_dir) / SCHEMA_FILE
    text = schema_text()
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old != text:
        path.write_text(text, encoding="utf-8")
    return path, old != text


def expected_header(flow_file: Path, flows_dir: Path) -> str:
    """The header line a flow file must start with, relative to where the schema lives."""
    depth = len(flow_file.resolve().relative_to(Path(flows_dir).resolve()).parts) - 1
    return HEADER_PREFIX + "../" * depth + SCHEMA_FILE


def missing_headers(flows_dir: str | Path) -> list[tuple[Path, str]]:
    """Flow files whose first line is not the schema header: (file, the line it should be)."""
    from bot.engine.loader import flow_files

    root = Path(flows_dir)
    out = []
    for path in flow_files(root):
        want = expected_header(path, root)
        first = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        if first != want:
            out.append((path, want))
    return out


def add_missing_headers(flows_dir: str | Path) -> list[Path]:
    """Prepend the header to flow files that lack any schema header. Files with a wrong one are left alone."""
    fixed = []
    for path, want in missing_headers(flows_dir):
        text = path.read_text(encoding="utf-8")
        if text.startswith(HEADER_PREFIX):
            continue
        path.write_text(want + "\n" + text, encoding="utf-8")
        fixed.append(path)
    return fixed
