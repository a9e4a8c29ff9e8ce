"""The languages are the catalogs in locales/: a third catalog is a third language, and a setting
naming a language without a catalog stops start-up with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import build_app
from bot.engine.events import Buyer, Start, Text
from bot.i18n.catalogs import CatalogError, Catalogs, catalog_languages
from bot.i18n.locale import choose_language, language_from_code, language_from_script
from bot.orders.demo import DemoOrderProvider
from bot.settings import ROOT, Settings
from bot.store.memory import MemoryStore


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """locales/ with a third catalog, `en` (the Russian texts: enough to be a language)."""
    locales = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", locales)
    shutil.copytree(locales / "ru", locales / "en")
    return locales


def _settings(tmp_path: Path, locales: Path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", locales_dir=locales, _env_file=None, **kw)  # type: ignore[call-arg]


def test_languages_are_the_catalogs_found(three: Path, tmp_path: Path):
    assert catalog_languages(ROOT / "locales") == ("ru", "zh")
    assert Catalogs.load(three).languages == ("en", "ru", "zh")
    with pytest.raises(CatalogError, match="no catalogs"):
        Catalogs.load(tmp_path / "empty")


async def test_a_third_catalog_is_spoken(three: Path, tmp_path: Path):
    app = build_app(_settings(tmp_path, three, default_lang="en"), store=MemoryStore(),
                    orders=DemoOrderProvider(tmp_path / "orders.sqlite3"))
    try:
        assert (await app.handle("a", Start(), Buyer("a", language_code="en-GB"))).lang == "en"
        assert (await app.handle("b", Text("12345"), Buyer("b", language_code="fr"))).lang == "en"  # the default
        assert (await app.handle("c", Start(), Buyer("c", language_code="uk"))).lang == "ru"
    finally:
        await app.close()


@pytest.mark.parametrize("name", ["default_lang", "agents_lang"])
def test_a_language_without_a_catalog_is_one_line(tmp_path: Path, name: str):
    with pytest.raises(SystemExit) as exc:
        build_app(_settings(tmp_path, ROOT / "locales", **{name: "en"}), store=MemoryStore(),
                  orders=DemoOrderProvider(tmp_path / "orders.sqlite3"))
    message = str(exc.value)
    assert "\n" not in message and f"{name.upper()}='en' has no catalog" in message and "ru, zh" in message


def test_choice_is_narrowed_to_the_languages_given():
    assert choose_language(None, "en-US", None, "ru", ("ru", "zh")) == "ru"
    assert choose_language(None, "en-US", None, "ru", ("en", "ru", "zh")) == "en"
    assert choose_language("zh", "ru", "Привет", "ru", ("ru", "zh")) == "zh"
    assert choose_language("de", None, "Привет", "zh", ("ru", "zh")) == "ru"  # no catalog for de: guessed
    assert language_from_code("kk", ("en", "zh")) is None  # a Russian reader, but no Russian catalog
    assert language_from_script("Где мой заказ?", ("en", "zh")) is None
    assert language_from_script("我的订单", ("en", "zh")) == "zh"
