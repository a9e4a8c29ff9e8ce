"""Gettext catalogs from `locales/<lang>/LC_MESSAGES/messages.po`, read with babel.

Message ids are keys (`cancel_order.shipped`); every language carries its own text, so every
language is an equal citizen and the validators check them all. Placeholders are `{name}`.
The languages are the catalogs found in `locales/`: adding one is adding its catalog.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

DOMAIN = "messages"
_FORMATTER = string.Formatter()


class CatalogError(ValueError):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


def placeholders(text: str) -> frozenset[str]:
    try:
        return frozenset(name.split(".")[0].split("[")[0] for _, name, _, _ in _FORMATTER.parse(text) if name)
    except ValueError:
        return frozenset({"<malformed braces>"})


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What the flow validators need to know of one catalog message in one language."""

    placeholders: frozenset[str]
    plural: bool = False
    fuzzy: bool = False
    forms: int = 1  # plural forms present


def catalog_languages(root: str | Path) -> tuple[str, ...]:
    """The languages with a catalog under `root` (`<root>/<lang>/LC_MESSAGES/messages.po`), sorted."""
    root = Path(root)
    found = root.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if root.is_dir() else ()
    return tuple(sorted(p.parent.parent.name for p in found))


@dataclass(frozen=True, slots=True)
class Entry:
    forms: tuple[str, ...]  # one for a plain message, n for a plural one
    plural: bool
    fuzzy: bool
    line: int


class Catalogs:
    """All languages' catalogs (what the engine calls its `Messages` port)."""

    def __init__(self, entries: dict[str, dict[str, Entry]], catalogs: dict[str, Catalog],
                 files: dict[str, str]) -> None:
        self._entries = entries
        self._catalogs = catalogs
        self.files = files
        self.languages: tuple[str, ...] = tuple(sorted(entries))

    @classmethod
    def load(cls, root: str | Path, languages: tuple[str, ...] | None = None) -> Catalogs:
        """Every catalog under `root` (or only `languages`, each of which must be there)."""
        root = Path(root)
        if languages is None:
            languages = catalog_languages(root)
            if not languages:
                raise CatalogError(str(root), 1, f"no catalogs: expected {root}/<lang>/LC_MESSAGES/{DOMAIN}.po")
        entries: dict[str, dict[str, Entry]] = {}
        catalogs: dict[str, Catalog] = {}
        files: dict[str, str] = {}
        for lang in languages:
            path = root / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
            if not path.exists():
                raise CatalogError(str(path), 1, f"catalog for '{lang}' is missing")
            with path.open("rb") as fh:
                try:
                    catalog = read_po(fh, locale=lang, abort_invalid=True)
                except Exception as exc:  # noqa: BLE001 - babel raises PoFileError (with the line in its text) and others
                    raise CatalogError(str(path), getattr(exc, "lineno", 1) or 1, str(exc)) from None
            table: dict[str, Entry] = {}
            for msg in catalog:
                if not msg.id:
                    continue
                key = msg.id[0] if isinstance(msg.id, (tuple, list)) else msg.id
                line = msg.lineno or 0  # read_po always sets both; babel types them Optional
                if isinstance(msg.string, (tuple, list)):
                    table[key] = Entry(tuple(msg.string), True, msg.fuzzy, line)
                else:
                    table[key] = Entry((msg.string or "",), False, msg.fuzzy, line)
            entries[lang], catalogs[lang], files[lang] = table, catalog, str(path)
        return cls(entries, catalogs, files)

    def keeping(self, older: Catalogs) -> Catalogs:
        """These catalogs plus the messages only `older` has: after a live edit removed a text, a
        conversation still finishing on the old flow version can still say it."""
        entries = {lang: {**older._entries.get(lang, {}), **table} for lang, table in self._entries.items()}
        return Catalogs(entries, self._catalogs, self.files)

    # ---- the Messages port ---------------------------------------------------------------------
    def info(self, msgid: str, lang: str) -> MessageInfo | None:
        entry = self._entries.get(lang, {}).get(msgid)
        if entry is None or not any(entry.forms):
            return None
        filled = [f for f in entry.forms if f]
        names = frozenset().union(*(placeholders(f) for f in filled))
        return MessageInfo(names, entry.plural, entry.fuzzy, len(filled))

    def template(self, msgid: str, lang: str) -> str | None:
        entry = self._entries.get(lang, {}).get(msgid)
        return entry.forms[0] if entry and entry.forms[0] else None

    def plural_forms_required(self, lang: str) -> int:
        return self._catalogs[lang].num_plurals

    # ---- lookups for rendering -----------------------------------------------------------------
    def text(self, msgid: str, lang: str, count: int | None = None) -> str | None:
        entry = self._entries.get(lang, {}).get(msgid)
        if entry is None:
            return None
        if entry.plural:
            index = min(_plural_index(self._catalogs[lang], count or 0), len(entry.forms) - 1)
            return entry.forms[index] or entry.forms[0]
        return entry.forms[0]

    def ids(self, lang: str) -> set[str]:
        return set(self._entries.get(lang, {}))


def _plural_index(catalog: Catalog, n: int) -> int:
    fn = _PLURAL_CACHE.get(catalog.plural_expr)
    if fn is None:
        fn = _compile_c_plural(catalog.plural_expr)
        _PLURAL_CACHE[catalog.plural_expr] = fn
    return int(fn(n))  # type: ignore[operator]


_PLURAL_CACHE: dict[str, object] = {}


def _compile_c_plural(expr: str):
    """Turn gettext's C plural expression into a Python function (babel.support does the same)."""
    from gettext import c2py

    return c2py(expr)
