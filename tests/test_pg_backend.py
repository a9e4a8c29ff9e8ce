"""The PostgreSQL backend as the app uses it: DATABASE_URL selects it, its numbered migrations run
once however many processes start at once, a newer schema is refused, and a whole conversation runs
on it as on SQLite. The contract suites (test_store_contract.py, test_handoff_records_contract.py)
run every method against it; this file covers what lies around them."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.app import build_app
from bot.handoff.records_backend import open_records
from bot.handoff.records_pg import PgHandoffRecords
from bot.handoff.records_sqlite import SqliteHandoffRecords
from bot.orders.demo import DemoOrderProvider, seed
from bot.settings import Settings
from bot.store.backend import open_store
from bot.store.migrations import SchemaTooNew
from bot.store.pg_migrations import LATEST, MIGRATIONS, PgMigration, migrate, schema_version
from bot.store.postgres import PgStore
from bot.store.sqlite import SqliteStore
from tests.conftest import NOW, ChatDriver


def _settings(tmp_path, url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url, _env_file=None)  # type: ignore[call-arg]


async def test_database_url_selects_the_backend(tmp_path, pg_url):
    pg, embedded = _settings(tmp_path, pg_url), _settings(tmp_path, None)
    for settings, store_cls, records_cls in ((pg, PgStore, PgHandoffRecords),
                                             (embedded, SqliteStore, SqliteHandoffRecords)):
        store, records = open_store(settings), open_records(settings)
        assert isinstance(store, store_cls) and isinstance(records, records_cls)
        await store.close()
        await records.close()
    with pytest.raises(SystemExit, match="postgresql://"):
        open_store(_settings(tmp_path, "mysql://localhost/bot"))


async def test_a_conversation_runs_on_postgresql_and_a_second_app_continues_it(tmp_path, pg_url, catalogs, clock):
    settings = _settings(tmp_path, pg_url)
    settings.data_dir.mkdir(parents=True)
    seed(settings.demo_orders_path, now=NOW)
    apps = [build_app(settings, catalogs=catalogs, clock=clock, orders=DemoOrderProvider(settings.demo_orders_path))
            for _ in range(2)]
    assert all(isinstance(a.store, PgStore) for a in apps)
    first, second = ChatDriver(apps[0], "pg-buyer"), ChatDriver(apps[1], "pg-buyer")
    await first.send("/start")
    assert first.buttons, "the menu offers buttons"
    second.last = first.last  # the buyer's next update reaches the other process
    await second.press(first.buttons[0])
    state = await apps[0].store.load_state("pg-buyer")
    assert state is not None and state.at is not None
    assert state.at.node == (await apps[1].store.load_state("pg-buyer")).at.node
    entries = await apps[0].store.transcript("pg-buyer")
    assert [e.direction for e in entries][:2] == ["in", "out"] and entries[-1].direction == "out"
    assert sum(e.direction == "in" for e in entries) == 2
    for a in apps:
        await a.close()


async def test_migrations_run_once_when_processes_start_together(pg_url):
    conns = [await asyncpg.connect(pg_url) for _ in range(4)]
    results = await asyncio.gather(*(migrate(c) for c in conns))
    assert sorted(now for _, now in results) == [LATEST] * 4
    assert sum(found == 0 for found, _ in results) >= 1
    assert await schema_version(conns[0]) == LATEST
    assert await conns[0].fetchval("SELECT count(*) FROM schema_version") == 1
    assert await migrate(conns[1]) == (LATEST, LATEST), "a migrated database is left as it is"
    for c in conns:
        await c.close()


async def test_a_new_step_applies_on_top_and_a_newer_database_is_refused(pg_url):
    conn = await asyncpg.connect(pg_url)
    await migrate(conn)
    await conn.execute("INSERT INTO conversations (chat_id, state) VALUES ('kept', '{}')")
    step = PgMigration(LATEST + 1, "test: a column", ("ALTER TABLE conversations ADD COLUMN extra text",))
    assert await migrate(conn, migrations=(*MIGRATIONS, step)) == (LATEST, LATEST + 1)
    assert await conn.fetchval("SELECT chat_id FROM conversations WHERE extra IS NULL") == "kept"
    with pytest.raises(SchemaTooNew, match=f"version {LATEST + 1}"):
        await migrate(conn)  # this code knows only up to LATEST
    await conn.close()


async def test_a_failing_step_leaves_the_version_where_it_was(pg_url):
    conn = await asyncpg.connect(pg_url)
    broken = PgMigration(LATEST + 1, "test: broken", ("CREATE TABLE half_made (x int)", "SELECT no_such_column"))
    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(conn, migrations=(*MIGRATIONS, broken))
    assert await schema_version(conn) == LATEST
    assert await conn.fetchval("SELECT to_regclass('half_made')") is None, "the step's transaction rolled back"
    await conn.close()
