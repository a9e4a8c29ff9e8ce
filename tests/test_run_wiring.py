"""The production entry point (`ozonbot run` with a token) wires the handoff service in.

Runs bot.telegram.run's real start-up against the fake forum group: permissions are checked, a
buyer's /agent opens a topic with a context card, and shutdown is clean.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from bot.telegram import run
from tests.fake_forum import FakeForum
from tests.fake_telegram import TOKEN

BUYER = 555001


async def test_run_with_an_agents_group_hands_off_into_a_topic(settings: Settings):
    async with FakeForum() as fake:
        settings.telegram_bot_token = SecretStr(TOKEN)
        settings.telegram_api_base = fake.api_base
        settings.telegram_file_base = fake.file_base
        settings.agents_chat_id = fake.group_id
        task = asyncio.create_task(run._run(settings, None, "127.0.0.1:0"))
        try:
            await fake.wait_method("deleteWebhook", timeout=15)  # polling starts right after
            fake.command(BUYER, "agent")
            topics = await fake.wait_method("createForumTopic", timeout=15)
            assert topics[0].params["chat_id"] in (fake.group_id, str(fake.group_id))
            await fake.wait_for(lambda: any(fake.thread_messages(t) for t in fake.topics), timeout=15)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)


async def test_run_refuses_to_start_when_the_bot_cannot_manage_topics(settings: Settings):
    async with FakeForum() as fake:
        fake.bot_rights["can_manage_topics"] = False
        settings.telegram_bot_token = SecretStr(TOKEN)
        settings.telegram_api_base = fake.api_base
        settings.agents_chat_id = fake.group_id
        with pytest.raises(run.StartupError, match=r"(?i)topic"):
            await asyncio.wait_for(run._run(settings, None, "127.0.0.1:0"), 15)


async def test_a_broken_flow_edit_is_refused_and_reported_to_the_agents(settings: Settings, tmp_path):
    import shutil

    from bot.settings import ROOT

    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("tests", "graphs"))
    async with FakeForum() as fake:
        settings.telegram_bot_token = SecretStr(TOKEN)
        settings.telegram_api_base = fake.api_base
        settings.agents_chat_id = fake.group_id
        settings.flows_dir = flows
        task = asyncio.create_task(run._run(settings, None, "127.0.0.1:0"))
        try:
            await fake.wait_method("deleteWebhook", timeout=15)
            await asyncio.sleep(0.5)  # the watcher is up
            menu = flows / "main_menu.yaml"
            menu.write_text(menu.read_text(encoding="utf-8").replace("start: menu", "start: menuu"), encoding="utf-8")
            sent = await fake.wait_for(lambda: [c for c in fake.calls_of("sendMessage", fake.group_id)
                                                if "refused" in c.params.get("text", "")] or None, timeout=20)
            assert "main_menu.yaml" in sent[0].params["text"] and "menuu" in sent[0].params["text"]
            fake.command(BUYER, "start")  # the last good version still serves
            replies = await fake.wait_for(lambda: [c for c in fake.calls_of("sendMessage", BUYER)] or None, timeout=15)
            assert "Здравствуйте" in replies[0].params["text"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)


def test_a_copied_env_example_starts_the_terminal_bot(tmp_path, monkeypatch):
    """`cp .env.example .env` then `make run`: empty values mean "not set", so the bot starts in the
    terminal on the demo store instead of refusing an empty token or agents' group."""
    import os
    import shutil
    import subprocess
    import sys

    from bot.settings import ROOT

    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "AGENTS_CHAT_ID", "OZON_CLIENT_ID", "OZON_API_KEY", "LINK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    loaded = Settings()
    assert loaded.telegram_bot_token is None and loaded.agents_chat_id is None and loaded.link_secret is None
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "AGENTS_CHAT_ID")}
    env["DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "bot", "run"], input="/start\n", capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "terminal" in done.stdout and "Здравствуйте" in done.stdout
