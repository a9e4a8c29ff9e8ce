"""Named checks run on every flow at load time. Each returns problems with a location and a hint.

Add a check by writing `def check_<name>(ctx) -> Iterator[FlowProblem]` and listing it in CHECKS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.engine.builtin_messages import ENGINE_MESSAGES
from bot.engine.conditions import ConditionError, compile_condition, compile_expression
from bot.engine.flow import Flow
from bot.engine.nodes import Message
from bot.engine.nodes.base import flow_of, is_flow_target
from bot.engine.ports import Messages
from bot.engine.problems import FlowProblem
from bot.engine.yaml_positions import Path, position_of

BUILTIN_VARS = frozenset({"order_number", "posting_number", "evidence", "reason"})
REQUIRED_SYSTEM_FLOWS = ("main_menu", "internal_error", "backend_unavailable", "not_understood", "owner_locked",
                         "talk_to_agent", "no_agent")


@dataclass
class FlowSource:
    flow: Flow
    file: str
    positions: dict[Path, tuple[int, int]]


@dataclass
class Context:
    sources: dict[str, FlowSource]
    messages: Messages | None
    var_names: frozenset[str] = field(default_factory=frozenset)

    def problem(self, src: FlowSource, path: Path, message: str, hint: str = "", node: str = "",
                check: str = "") -> FlowProblem:
        line, col = position_of(src.positions, path)
        return FlowProblem(src.file, line, col, message, hint, src.flow.id, node, check)


def _declared_vars(sources: dict[str, FlowSource]) -> frozenset[str]:
    names = set(BUILTIN_VARS)
    for src in sources.values():
        for node in src.flow.nodes.values():
            names.update(node.variables())
    return frozenset(names)


def check_system_flows(ctx: Context) -> Iterator[FlowProblem]:
    if not ctx.sources:
        return
    any_src = next(iter(ctx.sources.values()))
    for fid in REQUIRED_SYSTEM_FLOWS:
        if fid not in ctx.sources:
            yield FlowProblem(any_src.file, 1, 1, f"required flow '{fid}' is missing",
                              f"add flows/{'' if fid in ('main_menu', 'talk_to_agent') else 'system/'}{fid}.yaml",
                              check="system_flows")


def check_start(ctx: Context) -> Iterator[FlowProblem]:
    for src in ctx.sources.values():
        if src.flow.start not in src.flow.nodes:
            yield ctx.problem(src, ("start",), f"start node '{src.flow.start}' does not exist",
                              _known(src.flow.start, src.flow.nodes), check="start")


def _known(name: str, names) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=1)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(names))}"


def check_targets(ctx: Context) -> Iterator[FlowProblem]:
    for src in ctx.sources.values():
        for nid, node in src.flow.nodes.items():
            for where, target in node.targets():
                path = ("nodes", nid, *_split(where))
                if is_flow_target(target):
                    if flow_of(target) not in ctx.sources:
                        yield ctx.problem(src, path, f"{where} goes to unknown flow '{flow_of(target)}'",
                                          _known(flow_of(target), ctx.sources), nid, "targets")
                elif target not in src.flow.nodes:
                    yield ctx.problem(src, path, f"{where} goes to unknown node '{target}'",
                                      _known(target, src.flow.nodes) + " (use flow:ID for another flow)", nid,
                                      "targets")


def _split(where: str) -> tuple[Any, ...]:
    """'options[2].goto' -> ('options', 2, 'goto')."""
    out: list[Any] = []
    for part in where.split("."):
        if "[" in part:
            name, idx = part[:-1].split("[")
            out += [name, int(idx)]
        else:
            out.append(part)
    return tuple(out)


def check_reachable(ctx: Context) -> Iterator[FlowProblem]:
    for src in ctx.sources.values():
        flow = src.flow
        if flow.start not in flow.nodes:
            continue
        seen, todo = set(), [flow.start]
        while todo:
            nid = todo.pop()
            if nid in seen or nid not in flow.nodes:
                continue
            seen.add(nid)
            todo += [t for _, t in flow.nodes[nid].targets() if not is_flow_target(t)]
        for nid in flow.nodes:
            if nid not in seen:
                yield ctx.problem(src, ("nodes", nid), f"node '{nid}' is never reached",
                                  "point a goto/next at it from another node, or delete it", nid, "reachable")


def check_nodes(ctx: Context) -> Iterator[FlowProblem]:
    """What each node kind checks in itself (a switch's else, an action's name and args, ...)."""
    for src in ctx.sources.values():
        for nid, node in src.flow.nodes.items():
            for where, message, hint, check in node.problems():
                yield ctx.problem(src, ("nodes", nid, *where), message, hint, nid, check)


def _cycles(edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """Each cycle in a directed graph once, found by depth-first search (white/grey/black)."""
    colour: dict[str, int] = {}

    def visit(nid: str, stack: list[str]) -> Iterator[list[str]]:
        colour[nid] = 1
        for nxt in edges.get(nid, []):
            if nxt not in edges:
                continue
            if colour.get(nxt) == 1:
                yield [*stack[stack.index(nxt):], nxt]
            elif nxt not in colour:
                yield from visit(nxt, [*stack, nxt])
        colour[nid] = 2

    for nid in edges:
        if nid not in colour:
            yield from visit(nid, [nid])


def check_loops_wait(ctx: Context) -> Iterator[FlowProblem]:
    """A cycle made only of nodes that never wait would spin forever."""
    for src in ctx.sources.values():
        nodes = src.flow.nodes
        edges = {nid: [t for _, t in n.targets() if not is_flow_target(t) and t in nodes]
                 for nid, n in nodes.items() if not n.waits}
        for cycle in _cycles(edges):
            yield ctx.problem(src, ("nodes", cycle[0]), "loop never waits for the buyer: " + " -> ".join(cycle),
                              "put a choice or ask node in the loop, or end it", cycle[0], "loops_wait")


def check_expressions(ctx: Context) -> Iterator[FlowProblem]:
    for src in ctx.sources.values():
        for nid, node in src.flow.nodes.items():
            for where, source, is_condition in node.expressions():
                try:
                    expr = (compile_condition if is_condition else compile_expression)(source, ctx.var_names)
                except ConditionError as exc:
                    line, col = position_of(src.positions, ("nodes", nid, *_split(where), "<value>"))
                    yield FlowProblem(src.file, line, col, f"{where}: {exc.message} in '{source}'", exc.hint,
                                      src.flow.id, nid, "expressions")
                    continue
                if where.endswith(".count") and expr.type not in (int, object):
                    yield ctx.problem(src, ("nodes", nid, *_split(where)),
                                      f"{where} must be a number, '{source}' is not",
                                      "use a count such as order.days_in_status", nid, "expressions")


def _all_messages(src: FlowSource) -> Iterator[tuple[Path, str, Message]]:
    yield ("title",), "", src.flow.title
    for nid, node in src.flow.nodes.items():
        for where, msg in node.messages():
            yield ("nodes", nid, *_split(where)), nid, msg


def check_messages(ctx: Context) -> Iterator[FlowProblem]:
    """Every message exists in every language, with exactly the placeholders the flow passes."""
    if ctx.messages is None:
        return
    langs = ctx.messages.languages
    for src in ctx.sources.values():
        for path, nid, msg in _all_messages(src):
            given = set(msg.params)
            seen: dict[str, frozenset[str]] = {}
            for lang in langs:
                info = ctx.messages.info(msg.msg, lang)
                if info is None:
                    yield ctx.problem(src, path, f"message '{msg.msg}' is missing in {lang}",
                                      f"add it to locales/{lang}/LC_MESSAGES/messages.po", nid, "messages")
                    continue
                if info.fuzzy:
                    yield ctx.problem(src, path, f"message '{msg.msg}' is marked fuzzy in {lang}",
                                      "review the translation and remove the fuzzy flag", nid, "messages")
                seen[lang] = info.placeholders
                if missing := info.placeholders - given:
                    yield ctx.problem(src, path,
                                      f"message '{msg.msg}' ({lang}) needs params: {', '.join(sorted(missing))}",
                                      "pass them under params:", nid, "placeholders")
                if extra := given - info.placeholders:
                    yield ctx.problem(src, path, f"message '{msg.msg}' ({lang}) has no placeholder for: "
                                      f"{', '.join(sorted(extra))}",
                                      "remove the param or add {name} to the text", nid, "placeholders")
                if info.plural and not msg.count:
                    yield ctx.problem(src, path, f"message '{msg.msg}' has plural forms but no count",
                                      "add count: <number expression>", nid, "plurals")
                if info.plural and info.forms < ctx.messages.plural_forms_required(lang):
                    yield ctx.problem(src, path, f"message '{msg.msg}' ({lang}) has {info.forms} plural forms, needs "
                                      f"{ctx.messages.plural_forms_required(lang)}", "fill every msgstr[n]", nid,
                                      "plurals")
            if len(set(seen.values())) > 1:
                detail = "; ".join(f"{k}: {', '.join(sorted(v)) or '-'}" for k, v in seen.items())
                yield ctx.problem(src, path, f"message '{msg.msg}' has different placeholders per language ({detail})",
                                  "use the same {names} in every language", nid, "placeholders")


def check_engine_messages(ctx: Context) -> Iterator[FlowProblem]:
    """Messages the engine says itself must exist in every language too."""
    if ctx.messages is None or not ctx.sources:
        return
    for lang in ctx.messages.languages:
        for msgid in ENGINE_MESSAGES:
            if ctx.messages.info(msgid, lang) is None:
                yield FlowProblem(f"locales/{lang}/LC_MESSAGES/messages.po", 1, 1,
                                  f"built-in message '{msgid}' is missing in {lang}",
                                  "the engine says it outside flows; add it to the catalog", check="engine_messages")


def check_triggers(ctx: Context) -> Iterator[FlowProblem]:
    owners: dict[str, str] = {}
    for src in ctx.sources.values():
        for lang in src.flow.triggers.keywords:
            if ctx.messages is not None and lang not in ctx.messages.languages:
                yield ctx.problem(src, ("triggers", "keywords", lang), f"keywords for unknown language '{lang}'",
                                  f"use one of: {', '.join(ctx.messages.languages)}", check="triggers")
        for cmd in src.flow.triggers.commands:
            if cmd in owners and owners[cmd] != src.flow.id:
                yield ctx.problem(src, ("triggers", "commands"), f"command /{cmd} is also used by flow '{owners[cmd]}'",
                                  "give each command to one flow", check="triggers")
            owners[cmd] = src.flow.id


CHECKS: list[Callable[[Context], Iterator[FlowProblem]]] = [
    check_system_flows,
    check_start,
    check_targets,
    check_reachable,
    check_nodes,
    check_loops_wait,
    check_expressions,
    check_messages,
    check_engine_messages,
    check_triggers,
]


def run_checks(sources: dict[str, FlowSource], messages: Messages | None) -> list[FlowProblem]:
    ctx = Context(sources, messages, _declared_vars(sources))
    problems: list[FlowProblem] = []
    for check in CHECKS:
        problems.extend(check(ctx))
    return problems
