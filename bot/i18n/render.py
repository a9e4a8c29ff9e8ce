"""Turning `Say` effects into text in the buyer's language: plurals, dates, money, nested keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, get_currency_symbol

from bot.i18n.catalogs import Catalogs
from bot.i18n.keys import Day, Duration, MsgKey
from bot.orders.model import Money

# Buyers live in Russia, whatever language they read: every buyer-facing time is in one zone,
# BUYER_TIMEZONE (default Moscow, Ozon's own clock), for zh buyers too.
MOSCOW = ZoneInfo("Europe/Moscow")
_BUYER_TZ: list[tzinfo] = [MOSCOW]
# babel locale per catalog language where the bare code is not the one wanted.
BABEL_LOCALES = {"ru": "ru_RU", "zh": "zh_Hans_CN"}
# Date and time as a buyer writes them; "21 ноября, 15:32" suits most languages.
TIME_PATTERNS = {"zh": "M月d日 HH:mm"}
TIME_PATTERN = "d MMMM, HH:mm"
DATE_PATTERNS = {"zh": "M月d日"}
DATE_PATTERN = "d MMMM"


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
        if isinstance(value, Day):  # delivery windows: a date, never a clock time
            return day(value, lang)
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


def buyer_timezone() -> tzinfo:
    return _BUYER_TZ[0]


def set_buyer_timezone(name: str | tzinfo) -> None:
    """BUYER_TIMEZONE (an IANA name): the clock every buyer-facing date and time is shown in."""
    zone = ZoneInfo(name) if isinstance(name, str) else name
    if zone != _BUYER_TZ[0]:
        _BUYER_TZ[0] = zone
        when.cache_clear()
        day.cache_clear()


@lru_cache(maxsize=4096)  # babel takes ~25 µs a date; an order's dates repeat turn after turn
def when(value: datetime, lang: str) -> str:
    """`21 ноября, 15:32` / `11月21日 15:32`, both in the buyer's clock (BUYER_TIMEZONE)."""
    pattern = TIME_PATTERNS.get(lang, TIME_PATTERN)
    return format_datetime(value.astimezone(buyer_timezone()), pattern, locale=BABEL_LOCALES.get(lang, lang))


@lru_cache(maxsize=4096)
def day(value: datetime, lang: str) -> str:
    """`21 ноября` / `11月21日`: the day of a moment in the buyer's clock."""
    pattern = DATE_PATTERNS.get(lang, DATE_PATTERN)
    return format_datetime(value.astimezone(buyer_timezone()), pattern, locale=BABEL_LOCALES.get(lang, lang))


# What buyers in Russia read: "2 199,50 ₽"; in Chinese the same digits with 卢布 (roubles).
CURRENCY_WORDS = {("zh", "RUB"): "卢布"}


@lru_cache(maxsize=4096)
def money(value: Money, lang: str) -> str:
    """`2 199,50 ₽` in Russian, `2 199,50 卢布` in Chinese: Russian digit grouping in every language
    (a space between thousands, a decimal comma), as prices appear in the Ozon app."""
    digits = format_decimal(value.amount, "#,##0.00", locale="ru_RU").replace("\u00a0", " ").replace("\u202f", " ")
    unit = CURRENCY_WORDS.get((lang, value.currency)) or get_currency_symbol(value.currency, locale="ru_RU")
    return f"{digits} {unit}"


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
