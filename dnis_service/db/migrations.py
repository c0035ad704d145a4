"""Applies sql/migrations/NNNN_*.sql in order, each once, under an advisory lock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from dnis_service.db.queries import SQL_DIR, query

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica.
_MIGRATION_LOCK = 0x0D_1715_0001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available_migrations() -> list[Migration]:
    migrations = []
    for path in sorted((SQL_DIR / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")):
        migrations.append(Migration(int(path.name[:4]), path.stem, path))
    return migrations


async def applied_versions(conn: asyncpg.Connection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    return {row["version"] for row in await conn.fetch(query("applied_migrations"))}


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in available_migrations() if m.version not in done]


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply what is pending; replicas starting together wait on the lock, then find nothing to do."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(query("create_schema_migrations"))
        pending = await pending_migrations(conn)
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.path.read_text())
                await conn.execute(query("record_migration"), migration.version, migration.name)
            log.info("migration applied version=%d name=%s", migration.version, migration.name)
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
