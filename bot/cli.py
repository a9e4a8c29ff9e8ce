"""The `ozonbot` command. Library code raises specific exceptions; only this module prints them."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from bot.settings import Settings
from bot.store.migrations import SchemaTooNew

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
EXIT_CODES = ("exit codes: 0 ok, 1 problems found (invalid flows, failing tests), "
              "2 usage error (bad option or setting)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ozonbot", description="Ozon buyer-support bot (zh/ru).")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the bot: Telegram if TELEGRAM_BOT_TOKEN is set, else the terminal chat")
    run.add_argument("--webhook", metavar="URL", help="serve a webhook at URL instead of long polling")
    run.add_argument("--listen", default="127.0.0.1:8080", help="host:port for the webhook server")

    chat = sub.add_parser("chat", help="chat with the bot in the terminal")
    chat.add_argument("--lang", default="", help="the buyer's language code (default: guessed, else DEFAULT_LANG)")
    chat.add_argument("--user", default="console", help="buyer id (separate conversation per id)")
    chat.add_argument("--json", action="store_true", help="one JSON object per bot message")
    chat.add_argument("--agent", action="store_true",
                      help="you are also the support agent: after a handoff, '>> text' answers the buyer")

    flows = sub.add_parser("flows", help="check, inspect, draw and test flows", epilog=EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter).add_subparsers(
        dest="flows_command", required=True)
    check = flows.add_parser("check", help="validate every flow and translation; exit 1 on problems",
                             description="Validate every flow and translation. Prints file:line:column: message "
                                         "(hint) for each problem.", epilog=EXIT_CODES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--json", action="store_true", help="problems as a JSON list")
    _operator_parsers(flows, sub)

    orders = sub.add_parser("orders", help="orders: demo data and the Seller API key").add_subparsers(
        dest="orders_command", required=True)
    lst = orders.add_parser("list", help="list demo orders with their scenario and phone digits")
    lst.add_argument("--status")
    lst.add_argument("--json", action="store_true")
    orders.add_parser("seed", help="(re)write the demo orders with dates relative to now")
    orders.add_parser("check", help="ask the Seller API which roles the key has and when it expires")
    sync = orders.add_parser("sync", help="bring the order mirror up to date once (the first run reads "
                                          "MIRROR_DAYS of postings) and print what changed")
    sync.add_argument("--json", action="store_true", help="the report as JSON")
    push = orders.add_parser("push-check", help="check the Ozon push endpoint (PING to our own URL) and say "
                                                "what to set in the seller cabinet")
    push.add_argument("--listen", metavar="HOST:PORT",
                      help="where the bot serves pushes (default OZON_PUSH_LISTEN; in webhook mode, run's --listen)")
    push.add_argument("--show-secret", action="store_true", help="print the push URL with its secret")

    nlu = sub.add_parser("nlu", help="understanding of typed messages: how one is routed, held-out figures",
                         ).add_subparsers(dest="nlu_command", required=True)
    explain = nlu.add_parser("explain", help="how a message is routed and why: scores of the top flows")
    explain.add_argument("text", help="the buyer's message, in quotes")
    explain.add_argument("--lang", default="", help="language of the flow titles shown (default: DEFAULT_LANG)")
    explain.add_argument("--top", type=int, default=5, help="how many flows' scores to show")
    ev = nlu.add_parser("eval", help="held-out routing accuracy per language, off-topic rate, typed button answers")
    ev.add_argument("--cv", action="store_true",
                    help="also cross-validate on the flows' own examples (5-fold x3: as written, with a typo "
                         "each, Russian in Latin letters)")

    link = sub.add_parser("link", help="print a signed Telegram deep link that proves a buyer owns a posting")
    link.add_argument("posting", help="posting number, e.g. 57195475-0050-3")
    link.add_argument("--bot", default="", help="bot username, to print a full t.me link")
    return p


def _operator_parsers(flows, sub) -> None:
    """Operator tools (bot/operators/): show, graph, test, schema, stats."""
    fmt = argparse.RawDescriptionHelpFormatter
    show = flows.add_parser("show", help="print a flow as the buyer reads it, node by node", epilog=EXIT_CODES,
                            formatter_class=fmt)
    show.add_argument("flow", help="flow id, e.g. order_status")
    show.add_argument("--lang", default="", help="language of the texts, one of locales/ (default: DEFAULT_LANG)")
    graph = flows.add_parser("graph", help="draw flows as decision trees (mermaid or graphviz dot)", epilog=EXIT_CODES,
                             formatter_class=fmt)
    graph.add_argument("flow", nargs="?", default="", help="flow id (default: every flow)")
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.add_argument("--lang", default="", help="language of node and button texts, one of locales/ "
                                                  "(default: DEFAULT_LANG)")
    graph.add_argument("--out", metavar="DIR", help="write one file per flow into DIR (DIR/<id>.mmd or .dot)")
    test = flows.add_parser("test", help="run the conversation tests in flows/tests/*.yaml, with node coverage",
                            epilog=EXIT_CODES, formatter_class=fmt)
    test.add_argument("files", nargs="*", help="test files (default: flows/tests/*.yaml)")
    test.add_argument("--json", action="store_true", help="results and coverage as JSON (for CI)")
    test.add_argument("--only", metavar="TEXT", help="run only the tests whose name contains TEXT")
    test.add_argument("-v", "--verbose", action="store_true", help="show the conversation of passing tests too")
    test.add_argument("--channel", choices=["telegram", "ozon"], default="telegram",
                      help="render as Telegram (buttons) or Ozon chat (numbered lines; presses typed as numbers)")
    schema = flows.add_parser("schema", help="(re)write flows/flow.schema.json from the flow models", epilog=EXIT_CODES,
                              formatter_class=fmt)
    schema.add_argument("--check", action="store_true", help="only check that it is up to date (exit 1 if not)")
    schema.add_argument("--add-headers", action="store_true",
                        help="add the '# yaml-language-server: $schema=...' line to flow files that lack it")
    stats = sub.add_parser("stats", help="per flow: starts, resolved, handoffs, containment, drop-off by node",
                           epilog="exit codes: 0 ok, 1 the store cannot be read, 2 usage error", formatter_class=fmt)
    stats.add_argument("--since", metavar="DATE", help="only events since DATE (YYYY-MM-DD, UTC)")
    stats.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with charts")
    stats.add_argument("--json", action="store_true", help="figures as JSON")
    stats.add_argument("--db", metavar="PATH", help="conversation store (default: DATA_DIR/conversations.sqlite3)")

    # Several processes on PostgreSQL (issue 14)
    db = sub.add_parser("db", help="the conversation database: move an embedded deployment to PostgreSQL"
                        ).add_subparsers(dest="db_command", required=True)
    db_migrate = db.add_parser(
        "migrate", help="copy the embedded SQLite database (store and handoff) into an empty PostgreSQL database",
        epilog="exit codes: 0 copied, 1 refused (target not empty, source missing), 2 usage error", formatter_class=fmt)
    db_migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host:5432/db")
    db_migrate.add_argument("--from", dest="source", metavar="PATH",
                            help="SQLite file (default: DATA_DIR/conversations.sqlite3)")


def cmd_operators(settings: Settings, args) -> int:
    from bot.operators import commands

    if args.command == "stats":
        return commands.stats(settings, args)
    return {"show": commands.flows_show, "graph": commands.flows_graph, "test": commands.flows_test,
            "schema": commands.flows_schema}[args.flows_command](settings, args)


def entry() -> int:
    """The `ozonbot` command (and `python -m bot`): a whole process of its own, so `ozonbot orders
    list | head` may end quietly on a closed pipe. Not in `main`, which tests call in their process."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return main()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings()
    if settings is None:
        return EXIT_USAGE
    handler = {
        "run": cmd_run,
        "chat": cmd_chat,
        "flows": cmd_flows,
        "orders": cmd_orders,
        "link": cmd_link,
        "stats": cmd_operators,
        "nlu": cmd_nlu,
        "db": cmd_db,
    }[args.command]
    try:
        return handler(settings, args) or EXIT_OK
    except SchemaTooNew as exc:  # a database written by a newer bot: say so, touch nothing
        print(f"ozonbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


def _settings() -> Settings | None:
    """Settings from the environment and .env; None after printing one line per bad value."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    settings: Settings | None = None
    try:
        settings = Settings()
        problems = _language_problems(settings) + _schedule_problems(settings) + _push_problems(settings)
        problems += _mirror_problems(settings)
    except ValidationError as exc:
        problems = [setting_problem(error) for error in exc.errors()]
    except SettingsError as exc:
        problems = [f"settings: {exc}"]
    for problem in problems:
        print(f"ozonbot: {problem}", file=sys.stderr)
    return None if problems else settings


def _language_problems(settings: Settings) -> list[str]:
    """DEFAULT_LANG and AGENTS_LANG must name a catalog of locales/ (the languages are what it holds)."""
    from bot.i18n.catalogs import catalog_languages

    languages = catalog_languages(settings.locales_dir)
    choices = " or ".join(repr(lang) for lang in languages)
    return [f"{name}: must be {choices} (a catalog in {settings.locales_dir}); got {value!r}"
            for name, value in (("DEFAULT_LANG", settings.default_lang), ("AGENTS_LANG", settings.agents_lang))
            if languages and value not in languages]


def _schedule_problems(settings: Settings) -> list[str]:
    """The agents' working hours are parsed by the handoff at start-up: check each of the three here."""
    from bot.handoff.schedule import ScheduleError, WorkingHours

    problems: list[str] = []
    for name, hours, days, zone in (("HANDOFF_HOURS", settings.handoff_hours, "mon", "UTC"),
                                    ("HANDOFF_DAYS", "00:00-24:00", settings.handoff_days, "UTC"),
                                    ("HANDOFF_TIMEZONE", "00:00-24:00", "mon", settings.handoff_timezone)):
        try:
            WorkingHours.parse(hours, days, zone)
        except ScheduleError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def _mirror_problems(settings: Settings) -> list[str]:
    """The mirror's full sweep reads back every posting of MIRROR_DAYS: retention must keep at least those."""
    keep, days = settings.mirror_keep_days, settings.mirror_days
    if keep and keep < days:
        return [f"MIRROR_KEEP_DAYS: must be 0 (keep forever) or at least MIRROR_DAYS ({days:g}); got {keep:g}"]
    return []


def _push_problems(settings: Settings) -> list[str]:
    """OZON_PUSH_ALLOW_IPS and OZON_PUSH_LISTEN are parsed when the push endpoint starts: check them here."""
    default_listen = Settings.model_fields["ozon_push_listen"].default
    if not settings.ozon_push_allow_ips and settings.ozon_push_listen == default_listen:
        return []  # the defaults are fine (and every command starts without importing the push modules)
    from bot.push.endpoint import parse_networks
    from bot.push.service import listen_address

    problems: list[str] = []
    try:
        parse_networks(settings.ozon_push_allow_ips)
    except ValueError as exc:
        problems.append(f"OZON_PUSH_ALLOW_IPS: {exc} (comma-separated addresses or networks, or 'ozon')")
    try:
        listen_address(settings.ozon_push_listen)
    except ValueError as exc:
        problems.append(str(exc).replace("OZON_PUSH_LISTEN must", "OZON_PUSH_LISTEN: must"))
    return problems


_MUST_BE = {"int_parsing": "must be an integer", "int_from_float": "must be an integer",
            "int_type": "must be an integer", "float_parsing": "must be a number", "float_type": "must be a number",
            "bool_parsing": "must be true or false", "bool_type": "must be true or false"}


def setting_problem(error: Mapping[str, Any]) -> str:
    """One pydantic error on a setting as `NAME: what it must be (what it is for); got 'value'`."""
    name = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    field = Settings.model_fields.get(name)
    if error["type"] == "literal_error":
        must = f"must be {error.get('ctx', {}).get('expected', 'one of the allowed values')}"
    else:
        must = _MUST_BE.get(error["type"]) or error["msg"].replace("Input should be", "must be")
    if field is not None and field.description:
        must += f" ({field.description})"
    value = error.get("input")
    if field is not None and "SecretStr" in str(field.annotation):
        got = "; got a value (not shown: it is a secret)"
    elif isinstance(value, str):
        got = f"; got {value[:60] + '...' if len(value) > 60 else value!r}"
    else:
        got = ""
    return f"{name.upper()}: {must}{got}"


def cmd_flows(settings: Settings, args) -> int:
    if args.flows_command != "check":
        return cmd_operators(settings, args)
    from bot.engine.content import load_checked
    from bot.engine.problems import FlowLoadError

    warnings: list[str] = []
    try:
        flowset = load_checked(settings.flows_dir, settings.locales_dir)[1]
        problems: list = []
        from bot.operators.nlu import collisions

        warnings = collisions(flowset)
    except FlowLoadError as exc:
        problems = exc.problems
    for w in warnings:  # examples of two flows that collide: the model cannot tell them apart
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps([p.as_dict() for p in problems], ensure_ascii=False, indent=2))
    else:
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        else:
            print(f"{len(flowset.flows)} flows OK.")
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_nlu(settings: Settings, args) -> int:
    from bot.engine.content import Content, load_checked
    from bot.engine.problems import FlowLoadError
    from bot.operators import nlu

    try:
        content = Content.of(*load_checked(settings.flows_dir, settings.locales_dir))
    except FlowLoadError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEMS
    if args.nlu_command == "explain":
        lang = args.lang or settings.default_lang
        for line in nlu.explain(content.flows, args.text, top=args.top):
            print(line)
        route = content.flows.route(args.text)
        if route.flow is not None and lang in content.languages:
            print(f"title ({lang}): {content.catalogs.template(content.flows[route.flow].title.msg, lang)}")
        return EXIT_OK
    evaluations = {name: nlu.evaluate(content.flows, nlu.load_heldout(settings.flows_dir, path))
                   for name, path in nlu.HELDOUT_SETS.items() if (settings.flows_dir / path).exists()}
    rate, misses = nlu.evaluate_typed(content, nlu.load_typed_answers(settings.flows_dir))
    for name, e in evaluations.items():
        for lang, acc in sorted(e.accuracy.items()):
            print(f"{name} top-1 {lang}: {acc:.1%} of {e.counts[lang]}")
        print(f"{name} off-topic sent to a flow: {e.off_topic_routed:.1%} of {e.off_topic_count}")
    print(f"typed answers at buttons: {rate:.1%}")
    if args.cv:
        for typo, latin in ((False, False), (True, False), (False, True)):
            cv = nlu.cross_validate(content.flows, typo=typo, latin=latin)
            accs = ", ".join(f"{lang} {acc:.1%}" for lang, acc in sorted(cv.accuracy.items()))
            typos = ", one typo each" if typo else ", Russian in Latin letters" if latin else ""
            print(f"cross-validated on the examples ({cv.folds}-fold x{cv.repeats}{typos}): "
                  f"{accs}; off-topic sent to a flow {cv.off_topic_routed:.1%}")
    for name, e in evaluations.items():
        for lang, want, text, got in e.misses:
            print(f"  {name} miss [{lang}] {text!r}: want {want}, got {got or 'not understood'}")
    for where, text, want, got in misses:
        print(f"  miss [{where}] {text!r}: want {want}, got {got or 'nothing'}")
    return EXIT_OK


def cmd_orders(settings: Settings, args) -> int:
    from bot.orders.demo import DemoOrderProvider, seed

    if args.orders_command == "check":
        return asyncio.run(_check_key(settings))
    if args.orders_command == "sync":
        return asyncio.run(_sync_mirror(settings, args.json))
    if args.orders_command == "push-check":
        from bot.push.check import push_check

        result = asyncio.run(push_check(settings, listen=args.listen, show_secret=args.show_secret))
        for line in result.lines:
            print(line)
        return EXIT_OK if result.ok else EXIT_PROBLEMS
    if args.orders_command == "seed":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        n = seed(settings.demo_orders_path)
        print(f"Seeded {n} demo orders into {settings.demo_orders_path}")
        return EXIT_OK
    provider = DemoOrderProvider(settings.demo_orders_path)
    rows = provider.scenarios(args.status)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{'key':<30} {'posting':<18} {'phone':<5} {'status':<28} scenario")
    for r in rows:
        print(f"{r['key']:<30} {r['posting_number']:<18} {r['phone_last4'] or '-':<5} {r['status']:<28} "
              f"{r['scenario']}")
    return EXIT_OK


async def _check_key(settings: Settings) -> int:
    from bot.orders.errors import OrderBackendError
    from bot.orders.ozon.provider import OzonOrderProvider

    if not settings.ozon_client_id or settings.ozon_api_key is None:
        print("OZON_CLIENT_ID and OZON_API_KEY are not set (environment or .env).", file=sys.stderr)
        return EXIT_PROBLEMS
    provider = OzonOrderProvider(settings.ozon_client_id, settings.ozon_api_key.get_secret_value(),
                                 base_url=settings.ozon_base_url, max_retries=1,
                                 timeout=settings.ozon_timeout_seconds)
    try:
        key = await provider.roles()
    except OrderBackendError as exc:
        print(f"The Seller API refused the key: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        await provider.close()
    print(f"roles: {', '.join(key.roles) or '(none)'}")
    print(f"expires: {key.expires_at.isoformat() if key.expires_at else 'not given'}")
    print(await _check_chat(settings, list(key.methods)))
    return EXIT_OK


async def _check_chat(settings: Settings, methods: list[str]) -> str:
    """Ozon chat: may the key read chats and write in them (the Premium Plus/Pro subscription)?"""
    from bot.orders.ozon.client import OzonClient
    from bot.orders.ozon.errors import OzonError
    from bot.ozonchat.access import probe
    from bot.ozonchat.api import OzonChatApi
    from bot.retry import RetryPolicy

    assert settings.ozon_client_id and settings.ozon_api_key is not None
    api = OzonChatApi(OzonClient(settings.ozon_client_id, settings.ozon_api_key.get_secret_value(),
                                 base_url=settings.ozon_base_url), retry=RetryPolicy(attempts=2))
    try:
        return (await probe(api, methods)).summary
    except OzonError as exc:
        return f"Ozon chat: not checked ({exc})"
    finally:
        await api.close()


async def _sync_mirror(settings: Settings, as_json: bool) -> int:
    from bot.app import build_mirror
    from bot.orders.errors import OrderBackendError

    mirror = build_mirror(settings)
    try:
        report = await mirror.sync()
        purged = (await mirror.purge(time.time())).get("mirror_postings", 0)  # MIRROR_KEEP_DAYS, as the bot does
        held = await mirror.store.count()
    except OrderBackendError as exc:
        print(f"The mirror could not sync: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        await mirror.close()
    if as_json:
        print(json.dumps({"mode": report.mode, "read": report.read, "returns": report.returns,
                          "changes": report.kinds, "overdue": report.overdue, "full_sweep": report.full_sweep,
                          "held": held, "purged": purged}, ensure_ascii=False))
        return EXIT_OK
    source = "Seller API" if settings.order_provider == "ozon" else "demo shop"
    print(f"{report.mode} sync from the {source}: {report.read} postings read"
          f"{' (full sweep)' if report.full_sweep and report.mode != 'baseline' else ''}, "
          f"returns of {report.returns}; the mirror holds {held} postings")
    if purged:
        print(f"retention: forgot {purged} delivered or cancelled posting{'s' if purged != 1 else ''} "
              f"unchanged for more than {settings.mirror_keep_days:g} days (MIRROR_KEEP_DAYS)")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(report.kinds.items())) or "none"
    print(f"changes: {kinds}")
    live = getattr(mirror.source, "live", None)
    if live is not None:  # the demo shop's moving postings, to try them in a chat
        print("live demo postings (they move every DEMO_STEP_SECONDS):")
        for order in live():
            print(f"  {order.posting_number:<18} {order.phone_last4 or '-':<5} {order.status} {order.substatus}")
    return EXIT_OK


def cmd_link(settings: Settings, args) -> int:
    from bot.orders.signed_link import sign_posting

    if settings.link_secret is None:
        print("LINK_SECRET is not set (environment or .env): it signs the links.", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        payload = sign_posting(args.posting, settings.link_secret.get_secret_value())
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    print(f"https://t.me/{args.bot}?start={payload}" if args.bot else payload)
    return EXIT_OK


def cmd_db(settings: Settings, args) -> int:
    """`ozonbot db migrate --to URL`: the copy of bot/store/pg_copy.py, table by table."""
    from bot.store.pg_copy import CopyRefused, copy_sqlite_to_pg
    from bot.store.pg_pool import is_postgres_url

    if not is_postgres_url(args.to):
        print("ozonbot: --to must be a postgresql:// URL", file=sys.stderr)
        return EXIT_USAGE
    source = args.source or settings.store_path
    try:
        result = copy_sqlite_to_pg(source, args.to)
    except CopyRefused as exc:
        print(f"ozonbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:  # the server cannot be reached (refused, no such socket, DNS)
        print(f"ozonbot: cannot connect to the PostgreSQL database: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    for table, count in result.rows.items():
        print(f"{table}: {count} rows")
    for table in result.skipped:
        print(f"ozonbot: table {table} has no place in PostgreSQL yet: not copied", file=sys.stderr)
    print(f"copied {sum(result.rows.values())} rows from {source}; set DATABASE_URL to use it", file=sys.stderr)
    return EXIT_OK


def cmd_chat(settings: Settings, args) -> int:
    from bot.app import build_app
    from bot.console import ConsoleChat

    async def go() -> None:
        from bot.content_reload import watch_and_reload
        from bot.push.service import service_for
        from bot.runtime import tune_gc

        app = build_app(settings)
        tune_gc()
        app.start_retention()
        mirror = service_for(app.orders, settings)  # the order mirror's sync and push endpoint, when on
        if mirror is not None:
            await mirror.start()
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_and_reload(app, settings, stop_event=stop))  # edits apply live
        try:
            await ConsoleChat(app, user=args.user, lang=args.lang, json_mode=args.json,
                              agent=getattr(args, "agent", False)).run()
        finally:
            stop.set()
            await asyncio.wait_for(watcher, 5)
            if mirror is not None:
                await mirror.stop()
            await app.close()

    asyncio.run(go())
    return EXIT_OK


def cmd_run(settings: Settings, args) -> int:
    if settings.telegram_bot_token is None and settings.ozon_chat:
        from bot.ozonchat.run import OzonChatSetupError, run_alone

        try:
            return asyncio.run(run_alone(settings))
        except OzonChatSetupError as exc:
            print(f"ozonbot: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
    if settings.telegram_bot_token is None:
        print("No TELEGRAM_BOT_TOKEN set: starting the same bot in the terminal on the demo store.")
        return cmd_chat(settings, argparse.Namespace(lang="", user="console", json=False))
    from bot.telegram.run import run_telegram

    return run_telegram(settings, webhook=args.webhook, listen=args.listen)


if __name__ == "__main__":
    sys.exit(main())
