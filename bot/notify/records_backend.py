"""The proactive messages' records DATABASE_URL asks for: PostgreSQL for several processes (one
outbox for all, sent by the leader), else the tables in the embedded SQLite file (settings.store_path)."""

from __future__ import annotations

from bot.notify.records import NotifyRecords
from bot.settings import Settings
from bot.store.backend import database_url


def open_notify_records(settings: Settings) -> NotifyRecords:
    url = database_url(settings)
    if url is not None:
        from bot.notify.records_pg import PgNotifyRecords

        return PgNotifyRecords(url, lease=settings.database_lease_seconds)
    from bot.notify.records_sqlite import SqliteNotifyRecords

    return SqliteNotifyRecords(settings.store_path)
