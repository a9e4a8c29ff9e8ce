"""Which language to answer in: explicit choice, else client language code, else script, else default."""

from __future__ import annotations

from functools import lru_cache

SUPPORTED = ("zh", "ru")
# Languages whose speakers most likely read Russian better than anything else we offer.
_RUSSIAN_READERS = {"ru", "uk", "be", "kk", "ky", "uz", "tg", "hy", "az", "ka", "ro"}


@lru_cache(maxsize=512)  # asked every turn; clients send a handful of distinct codes
def language_from_code(code: str | None) -> str | None:
    """`ru`, `ru-RU`, `zh-hans`, `zh-CN`, `zh_TW` -> 'ru' / 'zh'; anything else -> None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].strip().lower()
    if base == "zh":
        return "zh"
    if base in _RUSSIAN_READERS:
        return "ru"
    return None


def language_from_script(text: str | None) -> str | None:
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
    return "zh" if han > cyr else "ru"


def choose_language(explicit: str | None, client_code: str | None, text: str | None, default: str) -> str:
    if explicit in SUPPORTED:
        return explicit  # type: ignore[return-value]
    return language_from_code(client_code) or language_from_script(text) or default
