"""`ozonbot flows check` on broken translations: missing, fuzzy, placeholders differing between
languages, plural messages without every Russian form. Catalogs are copies in tmp_path."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ROOT

PLURAL_FLOW = """# yaml-language-server: $schema=flow.schema.json
id: plural_demo
title: menu.title
triggers: {commands: [plural_demo]}
start: tell
nodes:
  tell:
    kind: say
    say: {msg: lookup.phone_wrong, count: order.days_in_status, params: {left: order.days_in_status}}
    next: done
  done: {kind: end, resolved: true}
"""


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "flows", tmp_path / "flows", ignore=shutil.ignore_patterns("tests", "graphs"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path / "flows"))
    monkeypatch.setenv("LOCALES_DIR", str(tmp_path / "locales"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def po(tree: Path, lang: str) -> Path:
    return tree / "locales" / lang / "LC_MESSAGES" / "messages.po"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def check(capsys, *extra: str) -> tuple[int, str]:
    code = main(["flows", "check", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


LINE = re.compile(r"^flows/[\w/]+\.yaml:\d+:\d+: ", re.M)


def test_clean_copy_passes(tree, capsys):
    code, out = check(capsys)
    assert code == 0, out
    assert "flows OK" in out


def test_message_missing_in_one_language(tree, capsys):
    text = po(tree, "zh").read_text(encoding="utf-8")
    po(tree, "zh").write_text(re.sub(r'\nmsgid "menu\.greeting"\nmsgstr "[^\n]*"\n', "\n", text), encoding="utf-8")
    code, out = check(capsys)
    assert code == 1
    assert re.search(r"^flows/main_menu\.yaml:\d+:\d+: message 'menu\.greeting' is missing in zh", out, re.M), out


def test_fuzzy_translation_is_refused(tree, capsys):
    edit(po(tree, "ru"), '\nmsgid "menu.greeting"', '\n#, fuzzy\nmsgid "menu.greeting"')
    code, out = check(capsys)
    assert code == 1
    assert "message 'menu.greeting' is marked fuzzy in ru" in out
    assert LINE.search(out)


def test_placeholders_differ_between_languages(tree, capsys):
    edit(po(tree, "ru"), 'msgid "menu.greeting"\nmsgstr "', 'msgid "menu.greeting"\nmsgstr "{name}, ')
    code, out = check(capsys, "--json")
    assert code == 1
    problems = json.loads(out[: out.rindex("]") + 1])
    differ = [p for p in problems if p["check"] == "placeholders" and "different placeholders" in p["message"]]
    assert differ and differ[0]["file"] == "flows/main_menu.yaml" and differ[0]["line"] > 1
    assert "ru: name" in differ[0]["message"] and "zh: -" in differ[0]["message"]


def test_plural_without_every_russian_form(tree, capsys):
    (tree / "flows" / "plural_demo.yaml").write_text(PLURAL_FLOW, encoding="utf-8")
    assert check(capsys)[0] == 0  # all three Russian forms present: fine
    text = po(tree, "ru").read_text(encoding="utf-8")
    third_form = r'(msgid_plural "lookup\.phone_wrong"\n(?:msgstr\[\d\] "[^\n]*"\n){2})msgstr\[2\] "[^\n]*"'
    po(tree, "ru").write_text(re.sub(third_form, r'\1msgstr[2] ""', text), encoding="utf-8")
    code, out = check(capsys)
    assert code == 1
    assert re.search(r"^flows/plural_demo\.yaml:9:\d+: message 'lookup\.phone_wrong' \(ru\) "
                     r"has 2 plural forms, needs 3", out, re.M), out


def test_broken_po_syntax_names_the_file(tree, capsys):
    edit(po(tree, "ru"), 'msgid "menu.greeting"', 'msgid "menu.greeting')
    code, out = check(capsys)
    assert code == 1
    assert "locales/ru/LC_MESSAGES/messages.po" in out


def test_exit_codes_are_documented_and_usage_is_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["flows", "check", "--help"])
    assert info.value.code == 0
    assert "exit codes: 0 ok, 1 problems found" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["flows", "check", "--no-such-option"])
    assert info.value.code == 2
