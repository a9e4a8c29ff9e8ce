"""The handoff records DATABASE_URL asks for: PostgreSQL for several processes, else the tables in
the embedded SQLite file (settings.store_path)."""

from __future__ import annotations

from bot.handoff.records import HandoffRecords
from bot.settings import Settings
from bot.store.backend import database_url


def open_records(settings: Settings) -> HandoffRecords:
    url = database_url(settings)
    if url is not None:
        from bot.handoff.records_pg import PgHandoffRecords

        return PgHandoffRecords(url, pool_size=max(2, settings.database_pool_size // 2),
                                lease=settings.database_lease_seconds)
    from bot.handoff.records_sqlite import SqliteHandoffRecords

    return SqliteHandoffRecords(settings.store_path)
