"""A live edit that removes a message must not leave a conversation on the old version mute."""

from __future__ import annotations

import re
import shutil

from bot.app import build_app
from bot.content_reload import reload
from bot.orders.demo import DemoOrderProvider
from bot.settings import ROOT, Settings
from bot.store.sqlite import SqliteStore
from tests.conftest import ChatDriver, FixedClock


async def test_conversation_on_the_old_version_still_gets_a_removed_text(tmp_path, catalogs):
    shutil.copytree(ROOT / "flows", tmp_path / "flows", ignore=shutil.ignore_patterns("tests", "graphs"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    settings = Settings(data_dir=tmp_path / "data", flows_dir=tmp_path / "flows", locales_dir=tmp_path / "locales",
                        _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings, clock=FixedClock(), store=SqliteStore(tmp_path / "s.sqlite3"),
                    orders=DemoOrderProvider(tmp_path / "o.sqlite3"))
    chat = ChatDriver(app, "old", "ru")
    await chat.send("/lang")  # waiting at the language choice; next comes 'language.done'
    done_ru = app.catalogs.template("language.done", "ru")

    # The operator rewrites the flow to a new message and deletes the old one from both catalogs.
    flow = tmp_path / "flows" / "language.yaml"
    flow.write_text(flow.read_text(encoding="utf-8").replace("say: language.done", "say: language.title"),
                    encoding="utf-8")
    for lang in ("zh", "ru"):
        po = tmp_path / "locales" / lang / "LC_MESSAGES" / "messages.po"
        po.write_text(re.sub(r'msgid "language\.done"\nmsgstr "[^"]*"\n\n', "", po.read_text(encoding="utf-8")),
                      encoding="utf-8")
    result = reload(app)
    assert result.ok, result.problems
    po = settings.locales_dir.joinpath("ru/LC_MESSAGES/messages.po")
    assert "language.done" not in po.read_text(encoding="utf-8")

    await chat.press("Русский")
    assert done_ru in chat.text and "language.done" not in chat.text
    await app.close()
