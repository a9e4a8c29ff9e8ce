"""Live reload: a good edit is swapped in, a broken one refused, conversations finish on their version."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.app import build_app
from bot.content_reload import format_problems, relevant, reload, watch_and_reload
from bot.engine.events import Buyer, Press, Start
from bot.orders.demo import DemoOrderProvider, seed
from bot.settings import ROOT, Settings
from bot.store.sqlite import SqliteStore
from tests.conftest import NOW, ChatDriver, FixedClock

LANGUAGE = """# yaml-language-server: $schema=flow.schema.json
id: language
title: language.title
triggers:
  commands: [lang]
start: pick
nodes:
  pick:
    kind: choice
    say: language.pick
    options:
      - {id: zh, label: language.zh, goto: set_zh}
      - {id: ru, label: language.ru, goto: set_ru}
  set_zh:
    kind: action
    action: set_language
    args: {lang: '"zh"'}
    next: DONE
  set_ru:
    kind: action
    action: set_language
    args: {lang: '"ru"'}
    next: DONE
  DONE:
    kind: say
    say: language.done
    next: "flow:main_menu"
"""


@pytest.fixture
def live(tmp_path: Path):
    """A bot running on its own copy of flows/ and locales/ that the test may edit."""
    shutil.copytree(ROOT / "flows", tmp_path / "flows", ignore=shutil.ignore_patterns("tests", "graphs"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    (tmp_path / "flows" / "language.yaml").write_text(LANGUAGE.replace("DONE", "done"), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", flows_dir=tmp_path / "flows", locales_dir=tmp_path / "locales",
                        _env_file=None)  # type: ignore[call-arg]
    settings.data_dir.mkdir()
    seed(settings.demo_orders_path, now=NOW)
    return settings


@pytest.fixture
async def app(live: Settings):
    application = build_app(live, clock=FixedClock(), orders=DemoOrderProvider(live.demo_orders_path),
                            store=SqliteStore(live.store_path))
    yield application
    await application.close()


def _edit_language(settings: Settings, done_node: str) -> None:
    (settings.flows_dir / "language.yaml").write_text(LANGUAGE.replace("DONE", done_node), encoding="utf-8")


async def _nodes_entered(app, chat_id: str) -> list[str]:
    return [f"{e.data['flow']}:{e.data['node']}" for e in await app.store.analytics()
            if e.name == "node_entered" and e.chat_id == chat_id]


async def test_a_reload_replaces_the_whole_snapshot_and_leaves_the_old_one_as_it_was(app, live: Settings):
    old = app.content
    old_flows, old_catalogs, old_language = old.flows, old.catalogs, old.flows["language"]
    _edit_language(live, "finished")
    assert reload(app).ok
    new = app.content
    assert new is not old and new.flows is not old_flows and new.catalogs is not old_catalogs
    assert (old.flows, old.catalogs, old.flows["language"]) == (old_flows, old_catalogs, old_language)  # untouched
    assert new.registry.version("language", old_language.version) == (old_language, old_flows)  # old version kept
    with pytest.raises(AttributeError):
        new.catalogs = old_catalogs  # type: ignore[misc]  # frozen: a reload replaces it, never edits it


async def test_good_edit_is_swapped_in(app, live: Settings):
    old = app.registry.current["language"].version
    _edit_language(live, "finished")
    result = reload(app)
    assert result.ok and result.changed == ["language"], result.summary()
    assert app.registry.current["language"].version != old
    assert "finished" in app.registry.current["language"].nodes


async def test_broken_edit_is_refused_and_the_old_version_serves(app, live: Settings):
    before = app.registry.current
    (live.flows_dir / "language.yaml").write_text(LANGUAGE.replace("next: DONE", "next: nowhere", 1)
                                                  .replace("DONE", "done"), encoding="utf-8")
    result = reload(app)
    assert not result.ok
    assert any(p.check == "targets" and p.node == "set_zh" and p.line > 1 for p in result.problems)
    assert "nowhere" in format_problems(result.problems)
    assert app.registry.current is before
    chat = ChatDriver(app, "b-old")
    await chat.send("/lang")
    await chat.press("Русский")
    assert "по-русски" in chat.text  # still the last good version


async def test_broken_translation_is_refused(app, live: Settings):
    po = live.locales_dir / "ru" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgid "language.done"\nmsgstr "',
                                                         'msgid "language.done"\nmsgstr "{who} '),
                  encoding="utf-8")
    before = (app.registry.current, app.catalogs)
    result = reload(app)
    assert not result.ok
    assert any(p.check == "placeholders" for p in result.problems)
    assert (app.registry.current, app.catalogs) == before


async def test_translation_edit_changes_texts_everywhere(app, live: Settings):
    po = live.locales_dir / "ru" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgid "menu.greeting"\nmsgstr "Здравствуйте!',
                                                         'msgid "menu.greeting"\nmsgstr "Добрый день!'),
                  encoding="utf-8")
    renderer, old = app.renderer, app.content
    assert reload(app).ok
    assert app.content is not old and app.content.renderer is not old.renderer  # caches belong to a snapshot
    assert app.renderer is renderer and renderer.catalogs is app.catalogs is app.content.catalogs
    assert renderer.text("menu.greeting", "ru").startswith("Добрый день!")  # whoever kept it sees the new text
    chat = ChatDriver(app, "b-new")
    await chat.send("/start")
    assert "Добрый день!" in chat.text


async def test_conversation_started_before_an_edit_finishes_on_its_version(app, live: Settings):
    buyer = Buyer("b-mid", language_code="ru")
    reply = await app.handle("b-mid", Start(), buyer)
    reply = await app.handle("b-mid", Press("lang", "menu"), buyer)
    assert reply.outgoing[-1].meta["node"] == "pick"
    _edit_language(live, "finished")
    assert reload(app).ok
    await app.handle("b-mid", Press("ru", "pick"), buyer)
    assert "language:done" in await _nodes_entered(app, "b-mid")  # the version it started with
    assert "language:finished" not in await _nodes_entered(app, "b-mid")
    # a conversation starting now gets the new version
    await app.handle("b-late", Start(), Buyer("b-late", language_code="ru"))
    await app.handle("b-late", Press("lang", "menu"), Buyer("b-late", language_code="ru"))
    await app.handle("b-late", Press("ru", "pick"), Buyer("b-late", language_code="ru"))
    assert "language:finished" in await _nodes_entered(app, "b-late")


def test_only_flow_and_catalog_files_trigger_a_reload(live: Settings):
    f, loc = live.flows_dir, live.locales_dir
    assert relevant(f / "language.yaml", f, loc)
    assert relevant(f / "system" / "owner_locked.yaml", f, loc)
    assert relevant(loc / "ru" / "LC_MESSAGES" / "messages.po", f, loc)
    assert not relevant(f / "tests" / "main_menu.yaml", f, loc)
    assert not relevant(f / "graphs" / "x.yaml", f, loc)
    assert not relevant(f / ".language.yaml.swp", f, loc)
    assert not relevant(loc / "ru" / "LC_MESSAGES" / "messages.mo", f, loc)


async def _until(predicate, timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_watcher_swaps_good_edits_and_refuses_broken_ones(app, live: Settings):
    stop, ready = asyncio.Event(), asyncio.Event()
    rejected: list[list] = []
    reloaded: list = []

    async def on_rejected(problems):
        rejected.append(problems)

    task = asyncio.create_task(watch_and_reload(app, live, on_rejected=on_rejected, stop_event=stop,
                                                on_reloaded=reloaded.append, debounce_ms=200, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        _edit_language(live, "finished")
        assert await _until(lambda: "finished" in app.registry.current["language"].nodes), "good edit not swapped in"
        assert reloaded and reloaded[-1].changed == ["language"]
        good = app.registry.current
        (live.flows_dir / "language.yaml").write_text("id: language\nnodes: [", encoding="utf-8")
        assert await _until(lambda: bool(rejected)), "broken edit not reported"
        assert rejected[-1][0].check == "yaml" and rejected[-1][0].file.endswith("language.yaml")
        assert app.registry.current is good
        chat = ChatDriver(app, "b-watch")
        await chat.send("/lang")
        assert chat.buttons  # still serving
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
