"""Node kinds carry their own behaviour: adding one is its module plus the `Node` union (and the
regenerated flows/flow.schema.json); nothing else in bot/ names a concrete kind."""

from __future__ import annotations

import ast
from typing import get_args

from bot.engine.nodes import KINDS, Node
from bot.engine.nodes.base import NodeBase
from bot.settings import ROOT


def test_every_kind_runs_and_is_listed():
    kinds = get_args(get_args(Node)[0])
    assert len(KINDS) == len(kinds) == len(set(KINDS))
    for cls in kinds:
        assert cls.enter is not NodeBase.enter, f"{cls.__name__} does not say what entering it does"


def test_no_module_outside_the_node_kinds_names_one():
    kinds = {cls.__name__ for cls in get_args(get_args(Node)[0])}
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        if path.parent == ROOT / "bot" / "engine" / "nodes":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot.engine.nodes"):
                offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names if a.name in kinds]
    assert not offenders, f"per-kind behaviour belongs on the node classes: {offenders}"
