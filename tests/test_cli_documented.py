"""Every `ozonbot` command is documented in the README (a command nobody can find does not exist)."""

from __future__ import annotations

import argparse
import re

from bot.cli import _parser
from bot.settings import ROOT


def _commands(parser: argparse.ArgumentParser, prefix: str = "ozonbot") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}"
                nested = _commands(sub, full)
                out += nested or [full]
    return out


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _commands(_parser())
    assert len(commands) >= 5
    missing = [c for c in commands if not re.search(re.escape(c) + r"\b", readme)]
    assert not missing, f"undocumented commands: {missing}"


def test_readme_shows_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
