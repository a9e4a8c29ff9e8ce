"""The operator subcommands of `ozonbot` (flows show/graph/test/schema, stats).

`bot/cli.py` declares the arguments and calls these; each returns the exit code:
0 ok, 1 problems (invalid flows, failing tests, stale schema, unreadable store), 2 usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.engine.problems import FlowLoadError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _load(settings: Any):
    """(catalogs, flowset) or None after printing the problems."""
    from bot.engine.content import load_checked

    try:
        return load_checked(settings.flows_dir, settings.locales_dir)
    except FlowLoadError as exc:
        for p in exc.problems:
            _err(str(p))
        _err(f"{len(exc.problems)} problem(s) in flows or translations; fix them first (ozonbot flows check).")
        return None


def _unknown_language(catalogs: Any, lang: str) -> bool:
    """True (after saying so) when `lang` has no catalog."""
    if lang in catalogs.languages:
        return False
    _err(f"no catalog for language {lang!r}; languages: {', '.join(catalogs.languages)}")
    return True


def flows_show(settings: Any, args: Any) -> int:
    from bot.operators.common import UnknownFlow, get_flow
    from bot.operators.show import show_flow

    loaded = _load(settings)
    if loaded is None:
        return EXIT_PROBLEMS
    catalogs, flowset = loaded
    lang = args.lang or settings.default_lang
    if _unknown_language(catalogs, lang):
        return EXIT_USAGE
    try:
        flow = get_flow(flowset, args.flow)
    except UnknownFlow as exc:
        _err(str(exc))
        return EXIT_USAGE
    sys.stdout.write(show_flow(flow, catalogs, lang))
    return EXIT_OK


def flows_graph(settings: Any, args: Any) -> int:
    from bot.operators.common import UnknownFlow, get_flow
    from bot.operators.graph import render_graph, write_graphs

    loaded = _load(settings)
    if loaded is None:
        return EXIT_PROBLEMS
    catalogs, flowset = loaded
    lang = args.lang or settings.default_lang
    if _unknown_language(catalogs, lang):
        return EXIT_USAGE
    if args.out:
        if args.flow:
            _err("give either FLOW or --out DIR (which writes every flow)")
            return EXIT_USAGE
        for path in write_graphs(flowset, catalogs, lang, args.format, args.out):
            print(path)
        return EXIT_OK
    try:
        flows = [get_flow(flowset, args.flow)] if args.flow else [flowset[f] for f in sorted(flowset.flows)]
    except UnknownFlow as exc:
        _err(str(exc))
        return EXIT_USAGE
    sys.stdout.write("\n".join(render_graph(f, catalogs, lang, args.format) for f in flows))
    return EXIT_OK


def flows_test(settings: Any, args: Any) -> int:
    from bot.operators.flowtest_format import find_test_files
    from bot.operators.flowtest_report import format_report
    from bot.operators.flowtests import run_tests

    if args.files:
        files = [Path(f) for f in args.files]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            _err(f"no such test file: {', '.join(missing)}")
            return EXIT_USAGE
    else:
        files = find_test_files(Path(settings.flows_dir) / "tests")
        if not files:
            _err(f"no test files in {Path(settings.flows_dir) / 'tests'}")
            return EXIT_USAGE
    loaded = _load(settings)
    if loaded is None:
        return EXIT_PROBLEMS
    catalogs, flowset = loaded
    report = asyncio.run(run_tests(flowset, catalogs, files, base=Path.cwd(), only=args.only,
                                   channel=getattr(args, "channel", "telegram")))
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_report(report, verbose=args.verbose))
    if args.only and not report.results:
        _err(f"no test name contains {args.only!r}")
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def flows_schema(settings: Any, args: Any) -> int:
    from bot.operators.schema import SCHEMA_FILE, add_missing_headers, missing_headers, schema_text, write_schema

    path = Path(settings.flows_dir) / SCHEMA_FILE
    code = EXIT_OK
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != schema_text():
            _err(f"{path} is out of date with the flow models; run `ozonbot flows schema`")
            code = EXIT_PROBLEMS
        else:
            print(f"{path} is up to date.")
    else:
        _, changed = write_schema(settings.flows_dir)
        print(f"{'wrote' if changed else 'unchanged:'} {path}")
    if args.add_headers and not args.check:
        for fixed in add_missing_headers(settings.flows_dir):
            print(f"added the schema header to {fixed}")
    for file, want in missing_headers(settings.flows_dir):
        _err(f"{file}:1:1: first line should be '{want}' (editors use it to check the file as you type)")
        code = EXIT_PROBLEMS
    return code


def stats(settings: Any, args: Any) -> int:
    from bot.operators.stats import (
        StatsError,
        agents_lines,
        compute,
        format_html,
        format_text,
        parse_since,
        read_events,
    )

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    db = Path(args.db) if args.db else settings.store_path
    try:
        events = read_events(db, since)
    except StatsError as exc:
        _err(str(exc))
        return EXIT_PROBLEMS
    flowset = None
    try:
        from bot.engine.content import load_checked

        flowset = load_checked(settings.flows_dir, settings.locales_dir)[1]
    except FlowLoadError:
        _err("note: flows do not load; node order and flow jumps are guessed from the events alone")
    result = compute(events, flowset, since)
    agents = asyncio.run(_agent_figures(db, since))
    if args.html:
        Path(args.html).write_text(format_html(result, agents=agents), encoding="utf-8")
        _err(f"wrote {args.html}")
    if args.json:
        print(json.dumps({**result.as_dict(), "agents": agents.model_dump()}, ensure_ascii=False, indent=2))
    else:
        agent_lines = "".join(f"  {line}\n" for line in agents_lines(agents))
        sys.stdout.write(format_text(result) + "\nHuman agents:\n" + agent_lines)
    return EXIT_OK


async def _agent_figures(db: Path, since: Any) -> Any:
    """Containment, handoffs, reply and close times, ratings: from the store and the handoff records."""
    from bot.handoff.figures import containment_figures
    from bot.handoff.records_sqlite import SqliteHandoffRecords
    from bot.store.sqlite import SqliteStore

    store, records = SqliteStore(db), SqliteHandoffRecords(db)
    try:
        return await containment_figures(store, records, since.timestamp() if since else 0.0)
    finally:
        await records.close()
        await store.close()
