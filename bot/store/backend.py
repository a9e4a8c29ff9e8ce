"""The stores DATABASE_URL asks for: PostgreSQL (postgresql://...) for several processes, else the
embedded SQLite file in DATA_DIR (the conversation store here; the handoff records in
bot/handoff/records_backend.py)."""

from __future__ import annotations

from typing import Any

from bot.settings import Settings
from bot.store.base import ConversationStore
from bot.store.pg_pool import is_postgres_url


def database_url(settings: Settings) -> str | None:
    """DATABASE_URL when it names PostgreSQL; None for the embedded default. Anything else is refused."""
    if settings.database_url is None:
        return None
    url = settings.database_url.get_secret_value()
    if not is_postgres_url(url):
        raise SystemExit("DATABASE_URL must start with postgresql:// (or be unset for the embedded SQLite file)")
    return url


def open_store(settings: Settings) -> ConversationStore:
    url = database_url(settings)
    if url is not None:
        from bot.store.postgres import PgStore

        return PgStore(url, pool_size=settings.database_pool_size)
    from bot.store.sqlite import SqliteStore

    return SqliteStore(settings.store_path)


def open_mirror_store(settings: Settings) -> Any:
    """The order mirror's `MirrorStore`: in PostgreSQL with DATABASE_URL (one copy for every process),
    else in the embedded SQLite file."""
    url = database_url(settings)
    if url is not None:
        from bot.store.mirror_pg import PgMirrorStore

        return PgMirrorStore(url)
    from bot.store.mirror_sqlite import SqliteMirrorStore

    return SqliteMirrorStore(settings.store_path)
