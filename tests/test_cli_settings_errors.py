"""A setting that cannot be used ends `ozonbot` with one line per problem and exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ROOT, Settings


def ozonbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    clean.update(DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "bot", *(args or ("flows", "check"))], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_a_non_numeric_agents_chat_id_is_one_line(tmp_path):
    done = ozonbot(tmp_path, AGENTS_CHAT_ID="abc")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("ozonbot: AGENTS_CHAT_ID: must be an integer (the agents' forum group id, "
                           "e.g. -1001234567890); got 'abc'\n")


def test_every_bad_value_gets_its_own_line(tmp_path):
    done = ozonbot(tmp_path, "orders", "list", DEFAULT_LANG="fr", OZON_CACHE_TTL="x", OZON_ALLOW_CANCEL="maybe",
                   LOOKUPS_PER_HOUR="1.5")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "ozonbot: OZON_CACHE_TTL: must be a number; got 'x'",
        "ozonbot: OZON_ALLOW_CANCEL: must be true or false; got 'maybe'",
        "ozonbot: LOOKUPS_PER_HOUR: must be an integer; got '1.5'",
    ]
    done = ozonbot(tmp_path, "orders", "list", DEFAULT_LANG="fr")
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"ozonbot: DEFAULT_LANG: must be 'ru' or 'zh' (a catalog in {ROOT / 'locales'}); got 'fr'",
    ]


@pytest.mark.parametrize("name, value, says", [
    ("HANDOFF_HOURS", "9-late", "bad time 'late'"), ("HANDOFF_DAYS", "weekdays", "bad day 'weekdays'"),
    ("HANDOFF_TIMEZONE", "Mars/Base", "unknown time zone 'Mars/Base'")])
def test_agents_working_hours_are_checked_before_start_up(tmp_path, name, value, says):
    done = ozonbot(tmp_path, **{name: value})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"ozonbot: {name}: {says}")


def test_a_bad_value_in_dot_env_is_reported_the_same_way(tmp_path):
    (tmp_path / ".env").write_text("AGENTS_CHAT_ID=-100abc\nDEFAULT_LANG=ru\n", encoding="utf-8")
    done = ozonbot(tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["ozonbot: AGENTS_CHAT_ID: must be an integer (the agents' forum group id, "
                                        "e.g. -1001234567890); got '-100abc'"]


def test_good_settings_still_run(tmp_path):
    done = ozonbot(tmp_path, AGENTS_CHAT_ID="-1001234567890", DEFAULT_LANG="zh", HANDOFF_DAYS="mon-fri,sun")
    assert done.returncode == 0, done.stderr
    assert "flows OK" in done.stdout


def test_a_database_from_a_newer_bot_is_one_line_and_untouched(tmp_path):
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    db = data / "conversations.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    clean = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    clean.update(DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "bot", "chat"], cwd=tmp_path, env=clean, input="",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "schema version 99" in done.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99


def test_mirror_retention_shorter_than_the_mirrors_period_is_refused(tmp_path):
    done = ozonbot(tmp_path, MIRROR_KEEP_DAYS="10")
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "ozonbot: MIRROR_KEEP_DAYS: must be 0 (keep forever) or at least MIRROR_DAYS (30); got 10"]
    for keep, days in (("0", "30"), ("45", "45")):
        done = ozonbot(tmp_path, MIRROR_KEEP_DAYS=keep, MIRROR_DAYS=days)
        assert done.returncode == 0, done.stderr
