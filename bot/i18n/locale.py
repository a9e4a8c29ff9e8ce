"""Which language to answer in: explicit choice, else client language code, else script, else default.

The languages are those with a catalog (`Catalogs.languages`); callers pass them. Without them,
the guesses below are not narrowed. Guessing by script knows Han (zh) and Cyrillic (ru) only: a
third language is chosen by its client code or explicitly.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

# Languages whose speakers most likely read Russian better than anything else we offer.
_RUSSIAN_READERS = {"ru", "uk", "be", "kk", "ky", "uz", "tg", "hy", "az", "ka", "ro"}


@lru_cache(maxsize=512)  # asked every turn; clients send a handful of distinct codes
def language_from_code(code: str | None, languages: tuple[str, ...] | None = None) -> str | None:
    """`ru`, `ru-RU`, `zh-hans`, `zh-CN`, `zh_TW` -> 'ru' / 'zh'; a code whose language has a
    catalog -> that language; anything else -> None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].strip().lower()
    if languages is not None and base in languages:
        return base
    guess = "zh" if base == "zh" else "ru" if base in _RUSSIAN_READERS else None
    return guess if languages is None or guess in languages else None


def language_from_script(text: str | None, languages: Collection[str] | None = None) -> str | None:
    """'zh' when the text is mostly Han characters, 'ru' when mostly Cyrillic, else None."""
    if not text:
        return None
    han = cyr = 0
    for ch in text[:500]:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
            han += 1
        elif 0x0400 <= o <= 0x04FF:
            cyr += 1
    if han == cyr:
        return None
    guess = "zh" if han > cyr else "ru"
    return guess if languages is None or guess in languages else None


def choose_language(explicit: str | None, client_code: str | None, text: str | None, default: str,
                    languages: tuple[str, ...] | None = None) -> str:
    if explicit and (languages is None or explicit in languages):
        return explicit
    return language_from_code(client_code, languages) or language_from_script(text, languages) or default
