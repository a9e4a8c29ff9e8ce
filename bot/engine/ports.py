"""What the engine needs from the outside world, as protocols. Adapters provide implementations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot.i18n.catalogs import MessageInfo


class Messages(Protocol):
    """The translation catalogs, as the engine sees them."""

    languages: tuple[str, ...]

    def info(self, msgid: str, lang: str) -> MessageInfo | None: ...

    def template(self, msgid: str, lang: str) -> str | None:
        """The raw text (singular form), used to match typed answers against button labels."""
        ...

    def plural_forms_required(self, lang: str) -> int: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
