"""Load every `flows/**/*.yaml`, validate it completely, and report all problems at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.engine.conditions import Expression, compile_expression
from bot.engine.flow import Flow
from bot.engine.flowset import FlowSet
from bot.engine.nodes import KINDS
from bot.engine.ports import Messages
from bot.engine.problems import FlowLoadError, FlowProblem
from bot.engine.validators import FlowSource, _declared_vars, run_checks
from bot.engine.yaml_positions import YamlSyntaxError, load_with_positions, position_of


def flow_files(root: Path) -> list[Path]:
    """Flow files: every YAML under `root` except the operators' tests and the held-out NLU set."""
    return sorted(p for p in root.rglob("*.yaml") if not {"tests", "nlu"} & set(p.relative_to(root).parts))


def read_yaml(text: str, display: str, check: str = "yaml") -> tuple[bool, Any, dict, list[FlowProblem]]:
    """(readable, data, positions, problems): YAML with positions; syntax errors and duplicate keys as problems.

    Shared by flow files and the operators' test files, so both report `file:line:column` alike.
    """
    try:
        data, positions, duplicates = load_with_positions(text)
    except YamlSyntaxError as exc:
        return False, None, {}, [FlowProblem(display, exc.line, exc.column, exc.message, "fix the YAML syntax",
                                             check=check)]
    return True, data, positions, [
        FlowProblem(display, d.line, d.column, f"duplicate key '{d.key}'", "each key may appear once; rename one",
                    check=check)
        for d in duplicates
    ]


def validation_problems(exc: ValidationError, positions: dict, display: str, *, check: str,
                        hint: Callable[[ErrorDetails], str], flow: str = "") -> list[FlowProblem]:
    """pydantic's errors at the line and column of the YAML they are about."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line, col = position_of(positions, loc)
        node = str(loc[1]) if len(loc) > 1 and loc[0] == "nodes" else ""
        out.append(FlowProblem(display, line, col, f"{'.'.join(str(x) for x in loc)}: {err['msg']}", hint(err), flow,
                               node, check))
    return out


def parse_flow_file(path: Path, text: str, display: str) -> tuple[FlowSource | None, list[FlowProblem]]:
    """Parse one file into a Flow, or the problems that stop it from being one."""
    readable, data, positions, problems = read_yaml(text, display)
    if not readable:
        return None, problems
    if not isinstance(data, dict):
        problems.append(FlowProblem(display, 1, 1, "a flow file must be a mapping", "start with 'id: my_flow'",
                                    check="schema"))
        return None, problems
    flow_id = str(data.get("id", ""))
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        return None, problems + validation_problems(exc, positions, display, check="schema", hint=_schema_hint,
                                                    flow=flow_id)
    if problems:
        return None, problems
    version = hashlib.sha1(text.encode()).hexdigest()[:12]
    flow = flow.model_copy(update={"version": version, "file": display})
    return FlowSource(flow, display, positions), []


def _schema_hint(err: ErrorDetails) -> str:
    kind = err.get("type", "")
    if kind == "string_type" and isinstance(err.get("input"), bool):
        return "YAML reads yes/no/on/off/true/false as a boolean: put the word in quotes, e.g. 'yes'"
    if kind == "extra_forbidden":
        return "remove this key or check its spelling (see flows/flow.schema.json)"
    if kind == "missing":
        return "add this key"
    if kind == "union_tag_invalid":
        return f"kind must be one of: {', '.join(KINDS)}"
    if kind == "literal_error":
        return "use one of the listed values"
    return ""


def load_flows(root: str | Path, messages: Messages | None, *, base: Path | None = None) -> FlowSet:
    """Load and validate all flows under `root`; raise FlowLoadError listing every problem."""
    root = Path(root)
    base = base or root.parent
    problems: list[FlowProblem] = []
    sources: dict[str, FlowSource] = {}
    files = flow_files(root)
    if not files:
        raise FlowLoadError([FlowProblem(str(root), 1, 1, "no flow files found", "add flows/*.yaml", check="files")])
    for path in files:
        display = _display(path, base)
        src, found = parse_flow_file(path, path.read_text(encoding="utf-8"), display)
        problems += found
        if src is None:
            continue
        if src.flow.id in sources:
            other = sources[src.flow.id].file
            problems.append(FlowProblem(display, *position_of(src.positions, ("id",)),
                                        f"flow id '{src.flow.id}' is already used by {other}",
                                        "give every flow a unique id", src.flow.id, check="unique_ids"))
            continue
        sources[src.flow.id] = src
    problems += run_checks(sources, messages)
    synonyms, found = load_button_synonyms(root, base)
    problems += found
    if problems:
        raise FlowLoadError(problems)
    return FlowSet({fid: s.flow for fid, s in sources.items()}, _compile_all(sources), synonyms)


BUTTONS_FILE = Path("nlu") / "buttons.yaml"


def load_button_synonyms(root: Path, base: Path) -> tuple[dict[str, tuple[str, ...]], list[FlowProblem]]:
    """`flows/nlu/buttons.yaml`: what buyers type for each button label (message id -> words in
    every language). Missing file: no synonyms."""
    path = root / BUTTONS_FILE
    if not path.is_file():
        return {}, []
    display = _display(path, base)
    readable, data, _positions, problems = read_yaml(path.read_text(encoding="utf-8"), display, check="buttons")
    if not readable or problems:
        return {}, problems
    table = (data or {}).get("buttons") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        return {}, [FlowProblem(display, 1, 1, "expected a mapping 'buttons: {message id: {lang: [words]}}'",
                                "see the comment at the top of the file", check="buttons")]
    out: dict[str, tuple[str, ...]] = {}
    for msgid, by_lang in table.items():
        if not isinstance(by_lang, dict):
            problems.append(FlowProblem(display, 1, 1, f"{msgid}: expected {{lang: [words]}}", "", check="buttons"))
            continue
        out[str(msgid)] = tuple(str(w) for words in by_lang.values() for w in (words or []) if str(w).strip())
    return out, problems


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _compile_all(sources: dict[str, FlowSource]) -> dict[str, Expression]:
    var_names = _declared_vars(sources)
    compiled: dict[str, Expression] = {}
    for src in sources.values():
        for node in src.flow.nodes.values():
            for _, source, _ in node.expressions():
                if source not in compiled:  # every one compiled already in the validators
                    compiled[source] = compile_expression(source, var_names)
    return compiled
