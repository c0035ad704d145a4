"""Numbered migrations: each applied exactly once, safe when many replicas start together."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg

from dnis_service.db.migrations import available_migrations, migrate
from dnis_service.db.queries import query
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


async def test_moving_allocation_state_to_phone_states_keeps_every_hold_and_all_history(server_url: str) -> None:
    """Migration 0009 on a database with data: the live holds stay live, the ended allocations
    become history, the DTMF codes stay where they were."""
    name = f"dnis_migrate_0009_{os.getpid()}"
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(with_database(server_url, name))
    try:
        await conn.execute(query("create_schema_migrations"))
        for migration in available_migrations()[:8]:
            await conn.execute(migration.sql)
            await conn.execute(query("record_migration"), migration.version, migration.name)
        await conn.execute(
            """INSERT INTO tenants (tenant_id) VALUES ('t1');
               INSERT INTO scopes (tenant_id, environment) VALUES ('t1', 'default');
               INSERT INTO phones (scope_id, phone_number, group_name, released_at)
               SELECT 1, (15550000000 + n)::text, 'sales', now() - n * interval '1 minute'
               FROM generate_series(1, 3) n;
               INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id,
                                        allocated_at, expires_at, ended_at, end_reason)
               VALUES (1, 'phone', 1, '15550000001', 'sales', 'old', now() - interval '2 hours',
                       now() - interval '1 hour', now() - interval '90 minutes', 'freed');
               WITH live AS (
                   INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id,
                                            allocated_at, expires_at)
                   VALUES (1, 'phone', 2, '15550000002', 'sales', 'live', now() - interval '1 minute',
                           now() + interval '4 minutes')
                   RETURNING allocation_id, expires_at)
               UPDATE phones SET allocation_id = live.allocation_id, expires_at = live.expires_at
               FROM live WHERE phone_id = 2;
               INSERT INTO allocations (scope_id, kind, dtmf_code, unique_id, allocated_at, expires_at)
               VALUES (1, 'dtmf', '123456', 'coded', now(), now() + interval '5 minutes');"""
        )
        live_before = await conn.fetchrow("SELECT allocated_at, expires_at FROM allocations WHERE unique_id = 'live'")
        assert [m.version for m in await migrate(conn)] == [m.version for m in available_migrations()[8:]]
        states = {r["phone_id"]: r for r in await conn.fetch("SELECT * FROM phone_states")}
        assert [states[n]["held"] for n in (1, 2, 3)] == [False, True, False]
        assert (states[2]["unique_id"], states[2]["allocated_at"], states[2]["expires_at"]) == (
            "live", live_before["allocated_at"], live_before["expires_at"])
        assert states[3]["released_at"] < states[1]["released_at"]
        history = await conn.fetch("SELECT phone_number, unique_id, end_reason FROM phone_history")
        assert [tuple(r) for r in history] == [("15550000001", "old", "freed")]
        assert await conn.fetchval("SELECT array_agg(unique_id) FROM allocations") == ["coded"]
        assert await conn.fetch(Path(__file__).parents[1].joinpath("invariants.sql").read_text()) == []
    finally:
        await conn.close()
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
