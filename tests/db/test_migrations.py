"""Numbered migrations: each applied exactly once, safe when many replicas start together."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from dnis_service.db.migrations import available_migrations, migrate
from tests.conftest import _admin, with_database


async def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_migrating_a_migrated_database_applies_nothing(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_replicas_migrating_together_apply_each_migration_once(server_url: str) -> None:
    name = f"dnis_migrate_race_{os.getpid()}"
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    conns = [await asyncpg.connect(url) for _ in range(5)]
    try:
        results = await asyncio.gather(*(migrate(conn) for conn in conns))
        assert sorted(len(applied) for applied in results) == [0, 0, 0, 0, len(available_migrations())]
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in available_migrations()]
    finally:
        for conn in conns:
            await conn.close()
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
