"""Turning `Say` effects into text in the buyer's language: plurals, dates, money, nested keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from bot.i18n.catalogs import Catalogs
from bot.i18n.keys import Duration, MsgKey
from bot.orders.model import Money

# Buyers read times in their own clock: Beijing for Chinese, else Moscow (Ozon's clock).
MOSCOW = ZoneInfo("Europe/Moscow")
TIMEZONES = {"ru": MOSCOW, "zh": ZoneInfo("Asia/Shanghai")}
# babel locale per catalog language where the bare code is not the one wanted.
BABEL_LOCALES = {"ru": "ru_RU", "zh": "zh_Hans_CN"}
# Date and time as a buyer writes them; "21 ноября, 15:32" suits most languages.
TIME_PATTERNS = {"zh": "M月d日 HH:mm"}
TIME_PATTERN = "d MMMM, HH:mm"


class SayLike(Protocol):
    """A message to show (the engine's `Say` effect). Read-only: the effects are frozen."""

    @property
    def msg(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def count(self) -> int | None: ...


class OptionLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...


class ChoicesLike(Protocol):
    """Buttons to show (the engine's `Choices` effect)."""

    @property
    def options(self) -> Sequence[OptionLike]: ...


class Texts(Protocol):
    """What collaborators need from a renderer: `Renderer` (one snapshot) and `CurrentRenderer` (the one in service)."""

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str: ...


class _SafeParams(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Renderer:
    """Texts from one set of catalogs, with caches that live as long as those catalogs (a reload
    makes a new Renderer with its new content snapshot)."""

    def __init__(self, catalogs: Catalogs) -> None:
        self.catalogs = catalogs
        self._plain: dict[tuple[str, str, int | None], str] = {}
        self._buttons: dict[int, tuple[ChoicesLike, dict[str, list[tuple[str, str]]]]] = {}

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str:
        if not params:  # buttons and prompts: the same text every time
            key = (msgid, lang, count)
            cached = self._plain.get(key)
            if cached is None:
                cached = self._plain[key] = self._text(msgid, lang, None, count)
            return cached
        return self._text(msgid, lang, params, count)

    def _text(self, msgid: str, lang: str, params: dict[str, Any] | None, count: int | None) -> str:
        template = self.catalogs.text(msgid, lang, count)
        if template is None:  # missing in this language: the first other language that has it
            others = (self.catalogs.text(msgid, other, count) for other in self.catalogs.languages if other != lang)
            template = next((t for t in others if t), msgid)
        if not params:
            return template
        values = _SafeParams({k: self.value(v, lang) for k, v in params.items()})
        try:
            return template.format_map(values)
        except (ValueError, IndexError, AttributeError):
            return template

    def buttons(self, choices: ChoicesLike, lang: str) -> list[list[str]]:
        """[[option id, label], ...]. The engine hands out the same Choices object for a choice whose
        options never vary: its buttons are rendered once per language (the cache holds the object,
        so its id cannot be reused while cached)."""
        hit = self._buttons.get(id(choices))
        if hit is None or hit[0] is not choices or lang not in hit[1]:
            rendered = [(o.id, self.text(o.label, lang, o.params)) for o in choices.options]
            if any(o.params for o in choices.options):
                return [list(b) for b in rendered]
            if len(self._buttons) >= 1024:  # choices filtered by conditions are new objects each turn
                self._buttons.clear()
            if hit is None or hit[0] is not choices:
                hit = self._buttons[id(choices)] = (choices, {})
            hit[1][lang] = rendered
        return [list(b) for b in hit[1][lang]]

    def say(self, effect: SayLike, lang: str) -> str:
        return self.text(effect.msg, lang, effect.params, effect.count)

    def value(self, value: Any, lang: str) -> str:
        if type(value) is str:  # most parameters: numbers of orders, tracking numbers (MsgKey is a subclass)
            return value
        loc = BABEL_LOCALES.get(lang, lang)
        if isinstance(value, MsgKey):
            return self.text(str(value), lang)
        if isinstance(value, Duration):  # "5 часов", "2 дня"; "5 小时", "2 天"
            if value >= 48:
                days = int(value) // 24
                return self.text("duration.days", lang, {"n": days}, count=days)
            return self.text("duration.hours", lang, {"n": int(value)}, count=int(value))
        if isinstance(value, Money):
            return money(value, lang)
        if isinstance(value, datetime):
            return when(value, lang)
        if isinstance(value, date):
            return format_date(value, "long", locale=loc)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, Decimal, float)):
            return format_decimal(value, locale=loc)
        if value is None:
            return ""
        return str(value)


@lru_cache(maxsize=4096)  # babel takes ~25 µs a date; an order's dates repeat turn after turn
def when(value: datetime, lang: str) -> str:
    """`21 ноября, 15:32` in Moscow time for Russian, `11月21日 20:32` in Beijing time for Chinese."""
    pattern = TIME_PATTERNS.get(lang, TIME_PATTERN)
    return format_datetime(value.astimezone(TIMEZONES.get(lang, MOSCOW)), pattern, locale=BABEL_LOCALES.get(lang, lang))


@lru_cache(maxsize=4096)
def money(value: Money, lang: str) -> str:
    """`1 234,50 ₽` in Russian, `RUB 1,234.50` style per the Chinese locale's own rules."""
    return format_currency(value.amount, value.currency, locale=BABEL_LOCALES.get(lang, lang))


class CurrentRenderer:
    """Renders with whichever Renderer `current()` returns at the call: the one of the content
    snapshot in service. Hand this to collaborators that keep a renderer across reloads."""

    __slots__ = ("current",)

    def __init__(self, current: Callable[[], Renderer]) -> None:
        self.current = current

    @property
    def catalogs(self) -> Catalogs:
        return self.current().catalogs

    def text(self, msgid: str, lang: str, params: dict[str, Any] | None = None, count: int | None = None) -> str:
        return self.current().text(msgid, lang, params, count)

    def buttons(self, choices: ChoicesLike, lang: str) -> list[list[str]]:
        return self.current().buttons(choices, lang)

    def say(self, effect: SayLike, lang: str) -> str:
        return self.current().say(effect, lang)

    def value(self, value: Any, lang: str) -> str:
        return self.current().value(value, lang)
