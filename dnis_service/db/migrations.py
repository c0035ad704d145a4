"""Applies sql/migrations/NNNN_*.sql in order, each once, under an advisory lock."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache

import asyncpg

from dnis_service.db.pool import Connection
from dnis_service.db.queries import query, sql_files

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"([0-9]{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def available_migrations() -> tuple[Migration, ...]:
    found = []
    for file in sql_files("migrations"):
        match = _FILE_NAME.fullmatch(file.name)
        if match is None:
            raise RuntimeError(f"sql/migrations/{file.name} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), file.name.removesuffix(".sql"), file.read_text(encoding="utf-8")))
    if not found:
        raise RuntimeError("no migrations found in the installed package (dnis_service.sql)")
    return tuple(found)


def latest_version() -> int:
    """The schema version this build expects."""
    return available_migrations()[-1].version


async def schema_version(conn: asyncpg.Pool | Connection) -> int:
    """The version the database is at (0: nothing applied)."""
    version: int = await conn.fetchval(query("schema_version"))
    return version


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply what is pending; replicas starting together wait on the lock, then find nothing to do."""
    await conn.execute(query("lock_migrations"))
    try:
        await conn.execute(query("create_schema_migrations"))
        done = {row["version"] for row in await conn.fetch(query("applied_migrations"))}
        pending = [m for m in available_migrations() if m.version not in done]
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(query("record_migration"), migration.version, migration.name)
            log.info("migration applied version=%d name=%s", migration.version, migration.name)
        return pending
    finally:
        await conn.execute(query("unlock_migrations"))
