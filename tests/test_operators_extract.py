"""The babel extractor for flow YAML, and `make i18n`'s extract -> update -> compile on a COPY of
the catalogs (pybabel update rewrites .po files; the real ones are never touched here)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.engine.loader import flow_files, load_flows
from bot.engine.validators import FlowSource, _all_messages
from bot.i18n.catalogs import Catalogs
from bot.operators.extract import extract_code, extract_flows
from bot.settings import ROOT

FLOW = b"""# yaml-language-server: $schema=flow.schema.json
id: demo
title: menu.title
start: ask
nodes:
  ask:
    kind: choice
    say: menu.greeting
    options:
      - {label: common.to_menu, goto: tell}
  tell:
    kind: say
    say: {msg: lookup.phone_wrong, count: order.days_in_status, params: {left: order.days_in_status}}
    next: done
  done: {kind: end, resolved: true}
"""


def run(data: bytes, name: str = "flows/demo.yaml", fn=extract_flows, options=None):
    fh = io.BytesIO(data)
    fh.name = name
    return list(fn(fh, ["gettext", "ngettext"], [], options or {}))


def test_every_message_of_a_flow_with_where_it_is_shown():
    got = run(FLOW)
    assert [(line, fn, msg) for line, fn, msg, _ in got] == [
        (3, "gettext", "menu.title"),
        (8, "gettext", "menu.greeting"),
        (10, "gettext", "common.to_menu"),
        (13, "ngettext", ("lookup.phone_wrong", "lookup.phone_wrong")),
    ]
    comments = [c[0] for *_, c in got]
    assert comments[0] == "flow demo, title"
    assert comments[1] == "flow demo, node ask (say)"
    assert comments[2] == "flow demo, node ask (options.0.label)"


def test_a_flow_mid_edit_still_gives_its_messages():
    broken = FLOW.replace(b"kind: say\n", b"kind: sayy\n")
    msgs = {m if isinstance(m, str) else m[0] for _, _, m, _ in run(broken)}
    assert {"menu.title", "menu.greeting", "common.to_menu", "lookup.phone_wrong"} <= msgs
    assert run(b"id: x\nnodes: [") == []  # not even YAML: nothing, no crash


def test_code_messages_include_families_built_with_fstrings():
    src = b'Say("common.stale_button")\nx = MsgKey(f"status.{s}")\nimport_path = "bot.engine.flow"\n'
    got = run(src, "bot/x.py", extract_code, {"locales_dir": str(ROOT / "locales")})
    ids = {m if isinstance(m, str) else m[0] for _, _, m, _ in got}
    assert "common.stale_button" in ids
    assert "bot.engine.flow" not in ids  # not a catalog id
    known = Catalogs.load(ROOT / "locales").ids("ru")
    assert {k for k in known if k.startswith("status.")} <= ids


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "flows", tmp_path / "flows", ignore=shutil.ignore_patterns("tests", "graphs"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def test_make_i18n_pipeline_on_a_copy(workdir: Path):
    before = Catalogs.load(workdir / "locales")
    pybabel("extract", "-F", "babel.cfg", "--no-wrap", "--sort-by-file", "-o", "locales/messages.pot", ".")
    with open(workdir / "locales" / "messages.pot", "rb") as fh:
        pot = read_po(fh)
    catalogs = Catalogs.load(workdir / "locales")
    flowset = load_flows(workdir / "flows", catalogs)
    # every message a flow shows is in the template, with the flow as a translator comment
    for flow in flowset.flows.values():
        for _, _nid, msg in _all_messages(FlowSource(flow, flow.file, {})):
            entry = pot.get(msg.msg) or pot.get((msg.msg, msg.msg))
            assert entry is not None, f"{msg.msg} ({flow.id}) not extracted"
            assert any(c.startswith(f"flow {flow.id}") for c in entry.auto_comments), entry.auto_comments
    pybabel("update", "-i", "locales/messages.pot", "-d", "locales", "--no-wrap",  # every catalog, as `make i18n`
            "--ignore-pot-creation-date")
    pybabel("compile", "-d", "locales")
    for lang in before.languages:
        text = (workdir / "locales" / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        obsolete = [line for line in text.splitlines() if line.startswith("#~ msgid ")]
        assert not obsolete, f"pybabel update retired messages in {lang} (used by no flow or code?): {obsolete}"
        assert "#, fuzzy\nmsgid \"" not in text, f"pybabel update guessed fuzzy translations in {lang}"
        assert (workdir / "locales" / lang / "LC_MESSAGES" / "messages.mo").exists()
    # the updated catalogs keep every text, unchanged, and still validate with the flows
    after = Catalogs.load(workdir / "locales")
    load_flows(workdir / "flows", after)
    assert after.languages == before.languages == ("ru", "zh")
    for lang in before.languages:
        assert after.ids(lang) == before.ids(lang)
        assert all(after.text(i, lang, 5) == before.text(i, lang, 5) for i in before.ids(lang))


def test_babel_cfg_maps_flows_and_code():
    cfg = (ROOT / "babel.cfg").read_text(encoding="utf-8")
    assert "[ozonbot_flows: flows/**.yaml]" in cfg
    assert "[bot.operators.extract.extract_code: bot/**.py]" in cfg
    assert flow_files(ROOT / "flows")
