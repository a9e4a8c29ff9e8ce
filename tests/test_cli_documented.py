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


def test_running_a_command_in_this_process_leaves_sigpipe_alone(capsys):
    """`main` is what tests call in pytest's own process: it must not set SIGPIPE to its default
    (a later write to a socket its peer closed would kill the whole run). Only the `ozonbot`
    command's own process does (`entry`, so `ozonbot ... | head` ends quietly)."""
    import signal

    from bot.cli import main

    before = signal.getsignal(signal.SIGPIPE)
    assert main(["flows", "check"]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before == signal.SIG_IGN
