"""Buttons rendered for the buyer: cached per language for choices that never vary, never stale."""

from __future__ import annotations

import shutil

from bot.engine.effects import Choices, Option
from bot.i18n.catalogs import Catalogs
from bot.i18n.render import CurrentRenderer, Renderer
from bot.settings import ROOT


def test_static_choices_render_per_language_and_callers_cannot_spoil_the_cache(catalogs):
    r = Renderer(catalogs)
    menu = Choices((Option("status", "common.to_menu"), Option("agent", "common.talk_to_agent")))
    ru, zh = r.buttons(menu, "ru"), r.buttons(menu, "zh")
    assert [b[0] for b in ru] == ["status", "agent"] and ru != zh
    assert ru[0][1] == catalogs.text("common.to_menu", "ru") and zh[1][1] == catalogs.text("common.talk_to_agent", "zh")
    ru[0][1] = "changed by an adapter"
    assert r.buttons(menu, "ru")[0][1] == catalogs.text("common.to_menu", "ru")


def test_buttons_with_parameters_are_rendered_each_time(catalogs):
    r = Renderer(catalogs)
    first = Choices((Option("1", "lookup.posting_option", {"posting": "1-2-1", "status": "x"}),))
    second = Choices((Option("1", "lookup.posting_option", {"posting": "9-9-9", "status": "x"}),))
    assert "1-2-1" in r.buttons(first, "ru")[0][1] and "9-9-9" in r.buttons(second, "ru")[0][1]


def test_a_catalog_reload_re_renders_cached_buttons(tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", locales)
    current = [Renderer(Catalogs.load(locales))]
    r = CurrentRenderer(lambda: current[0])  # what the app hands out as app.renderer
    menu = Choices((Option("menu", "common.to_menu"),))
    before = r.buttons(menu, "ru")[0][1]
    po = locales / "ru" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace(f'msgstr "{before}"', 'msgstr "В главное меню"', 1),
                  encoding="utf-8")
    current[0] = Renderer(Catalogs.load(locales))  # a live reload: a new snapshot with its own caches
    assert r.buttons(menu, "ru")[0][1] == "В главное меню" != before
