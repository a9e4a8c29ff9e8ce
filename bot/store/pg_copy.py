"""`ozonbot db migrate --to postgresql://...`: copy an embedded deployment (the SQLite conversation
file: the store's, the handoff's, the order mirror's and the proactive messages' tables) into a
PostgreSQL database, ids and all.

The source is first brought to the latest SQLite schema (as the bot does at start-up), the target
to the latest PostgreSQL schema; then every table PostgreSQL has is copied in ONE transaction
(COPY, the fast path), each identity moved past the copied ids, so new rows never reuse one. A
target that already holds rows is refused: the copy is for moving a deployment once, with the bot
stopped. Tables the SQLite file has and PostgreSQL does not are named in the result (not copied).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.migrations import migrate as migrate_sqlite
from bot.store.pg_migrations import migrate as migrate_pg


class CopyRefused(RuntimeError):
    """The copy cannot be made (the message says why); nothing was written."""


@dataclass(slots=True)
class CopyResult:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied, in copy order
    skipped: list[str] = field(default_factory=list)  # SQLite tables PostgreSQL has no place for


def _converter(pg_type: str) -> Callable[[Any], Any]:
    if pg_type == "boolean":
        return lambda v: None if v is None else bool(v)
    if pg_type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    if pg_type in ("double precision", "real", "numeric"):
        return lambda v: None if v is None else float(v)
    return lambda v: None if v is None else str(v)


async def _pg_tables(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """table -> {column: data type}, in the schema the connection writes to (its search_path)."""
    rows = await conn.fetch(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema=c.table_schema AND t.table_name=c.table_name "
        "WHERE c.table_schema=current_schema() AND t.table_type='BASE TABLE' ORDER BY c.table_name, c.ordinal_position")
    out: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        out.setdefault(table, {})[column] = kind
    out.pop("schema_version", None)
    return out


def copy_sqlite_to_pg(sqlite_path: str | Path, url: str) -> CopyResult:
    """Run the copy (its own event loop: a command, not part of a running bot)."""
    path = Path(sqlite_path)
    if not path.exists():
        raise CopyRefused(f"{path} does not exist: nothing to copy (set DATA_DIR, or give --from)")
    src = sqlite3.connect(path, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout=5000")
        migrate_sqlite(src)
        return asyncio.run(_copy(src, url))
    finally:
        src.close()


async def _copy(src: sqlite3.Connection, url: str) -> CopyResult:
    src_tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%'")}
    conn = await asyncpg.connect(url)
    try:
        await migrate_pg(conn)
        targets = await _pg_tables(conn)
        result = CopyResult(skipped=sorted(src_tables - targets.keys()))
        async with conn.transaction():
            for table in sorted(targets):  # refuse before writing anything
                if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                    raise CopyRefused(f"the PostgreSQL database already holds rows (table {table}): "
                                      "the copy is for an empty database")
            for table, types in sorted(targets.items()):
                if table not in src_tables:
                    continue
                have = {r[1] for r in src.execute(f'PRAGMA table_info("{table}")')}
                columns = [c for c in types if c in have]
                convert = [_converter(types[c]) for c in columns]
                select = ", ".join(f'"{c}"' for c in columns)
                # in the order the rows were made: an identity the SQLite table lacks (a watch's `seq`) follows it
                order = ' ORDER BY "id"' if "id" in have else " ORDER BY rowid"
                rows = [tuple(f(v) for f, v in zip(convert, row, strict=True))
                        for row in src.execute(f'SELECT {select} FROM "{table}"{order}')]
                if table == "conversations" and "rev" in types:  # SQLite's random revisions mean nothing here
                    at = columns.index("rev")
                    rows = [(*r[:at], 1, *r[at + 1:]) for r in rows]
                if rows:
                    await conn.copy_records_to_table(table, records=rows, columns=columns)
                result.rows[table] = len(rows)
                if "id" in types and rows:
                    await conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                       f'(SELECT max(id) FROM "{table}"))')
    finally:
        await conn.close()
    return result
