"""The allocation queries stay on their partial indexes with a pool of 100,000 phones."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from dnis_service.db.pool import create_pool
from dnis_service.db.queries import all_queries, query
from dnis_service.domain import tenants
from tests.conftest import TEMPLATE, _admin, with_database

POOL = 100_000
# One big pool for the whole module: building it takes seconds.
pytestmark = pytest.mark.asyncio(loop_scope="module")


def index_names(plan: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in plan:
        yield plan["Index Name"]
    for child in plan.get("Plans", []):
        yield from index_names(child)


def node_types(plan: dict[str, Any]) -> Iterator[str]:
    yield plan["Node Type"]
    for child in plan.get("Plans", []):
        yield from node_types(child)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def db(server_url: str, template_url: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"dnis_query_plans_{os.getpid()}"
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                 f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    pool = await create_pool(with_database(server_url, name), min_size=1, max_size=2, statement_timeout_seconds=300)
    yield pool
    await pool.close()
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def big_pool(db: asyncpg.Pool) -> int:
    """100,000 phones in 10 groups; 90% allocated (half of those expired), the rest free: the free
    ones are group g0's, so that g3 has none."""
    await tenants.create_tenant(db, "big")
    await tenants.create_tenant(db, "small")
    scope_id: int = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = 'big'")
    await db.execute(
        """INSERT INTO phones (scope_id, phone_number, dn_id, group_name)
           SELECT $1, (10000000000 + n)::text, n::text, 'g' || (n % 10) FROM generate_series(1, $2) n""",
        scope_id, POOL,
    )
    await db.execute(
        """UPDATE phone_states s
           SET released_at = now() - p.phone_number::bigint % 100000 * interval '1 second',
               held = p.group_name <> 'g0', unique_id = CASE WHEN p.group_name <> 'g0' THEN 'i' || p.phone_id END,
               allocated_at = CASE WHEN p.group_name <> 'g0' THEN now() - interval '1 hour' END,
               expires_at = CASE WHEN p.group_name = 'g0' THEN NULL
                                 WHEN p.phone_id % 2 = 0 THEN now() + interval '1 hour'
                                 ELSE now() - interval '1 minute' END
           FROM phones p WHERE p.phone_id = s.phone_id"""
    )
    await db.execute("ANALYZE phones")
    await db.execute("ANALYZE phone_states")
    return scope_id


async def plan_of(db: asyncpg.Pool, name: str, *args: object, generic: bool = False) -> dict[str, Any]:
    async with db.acquire() as conn:
        # asyncpg switches to a generic plan after a few executions; check that one too.
        await conn.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
        raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + query(name), *args)
    plan: dict[str, Any] = json.loads(raw)[0]["Plan"] if isinstance(raw, str) else raw[0]["Plan"]
    return plan


async def plans_inside(db: asyncpg.Pool, name: str, *args: object, generic: bool = False) -> list[dict[str, Any]]:
    """The plans of the statements that query `name` runs inside its functions, as auto_explain
    logs them to this session; in a transaction rolled back, so that the data stays as it was."""
    logged: list[str] = []

    def listen(_conn: object, message: Any) -> None:
        logged.append(message.message)

    async with db.acquire() as conn:
        conn.add_log_listener(listen)
        for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                        "SET auto_explain.log_nested_statements = on", "SET auto_explain.log_format = json",
                        "SET client_min_messages = log",
                        f"SET plan_cache_mode = {'force_generic_plan' if generic else 'auto'}"):
            await conn.execute(setting)
        try:
            transaction = conn.transaction()
            await transaction.start()
            await conn.fetch(query(name), *args)
            await asyncio.sleep(0.1)  # the listener runs after the statement's notices arrive
            await transaction.rollback()
        finally:
            conn.remove_log_listener(listen)
            await conn.execute("RESET client_min_messages")
    return [json.loads(text.split("plan:", 1)[1]) for text in logged if "plan:" in text]


def indexes_of(plans: list[dict[str, Any]]) -> set[str]:
    return {name for plan in plans for name in index_names(plan["Plan"])}


def statements_with(plans: list[dict[str, Any]], *nodes: str) -> list[str]:
    """The statements (their text) whose plan has any of these nodes."""
    return [plan["Query Text"] for plan in plans if set(nodes) & set(node_types(plan["Plan"]))]


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_allocating_a_free_phone_uses_the_free_index(db, big_pool: int, generic: bool) -> None:
    plans = await plans_inside(db, "allocate_phone", big_pool, "new-1", None, 0.0, 300.0, generic=generic)
    assert "phone_states_free_idx" in indexes_of(plans)
    assert statements_with(plans, "Seq Scan") == []
    assert [text for text in statements_with(plans, "Sort") if "SKIP LOCKED" in text] == []


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_allocating_a_free_phone_in_a_group_uses_the_free_index(db, big_pool: int, generic: bool) -> None:
    plans = await plans_inside(db, "allocate_phone", big_pool, "new-2", "g0", 0.0, 300.0, generic=generic)
    assert "phone_states_free_idx" in indexes_of(plans)
    assert statements_with(plans, "Seq Scan") == []
    assert [text for text in statements_with(plans, "Sort") if "SKIP LOCKED" in text] == []


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_taking_over_an_expired_phone_uses_the_expiry_index(db, big_pool: int, generic: bool) -> None:
    plans = await plans_inside(db, "allocate_phone", big_pool, "new-3", "g3", 0.0, 300.0, generic=generic)
    assert "phone_states_expiry_idx" in indexes_of(plans)
    assert statements_with(plans, "Seq Scan") == []


def indexes_reading_the_interactions_holds(plans: list[dict[str, Any]]) -> list[set[str]]:
    """The indexes of phone_states that each statement reading the interaction's own holds uses."""
    return [{name for name in index_names(plan["Plan"]) if name.startswith("phone_states")}
            for plan in plans if "s.unique_id = p_uid" in plan["Query Text"]]


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_allocation_looks_up_the_interactions_holds_on_the_holder_index(db, big_pool: int, generic: bool) -> None:
    plans = await plans_inside(db, "allocate_phone", big_pool, "i2", None, 0.0, 300.0, generic=generic)
    assert indexes_reading_the_interactions_holds(plans) == [{"phone_states_holder_uq"}] * 2
    assert statements_with(plans, "Seq Scan") == []


STORM = 100_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def storm(server_url: str, template_url: str) -> AsyncIterator[tuple[asyncpg.Pool, int]]:
    """A database of its own in the middle of an expiry storm the release job has not caught up
    with: 100,000 holds of one tenant expired together, and the statistics were taken before, as
    in the steady state, when hardly any hold is past its expiry. Another tenant allocates."""
    name = f"dnis_query_plans_storm_{os.getpid()}"
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                 f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    pool = await create_pool(with_database(server_url, name), min_size=1, max_size=2, statement_timeout_seconds=300)
    try:
        for tenant_id in ("storm", "calm"):
            await tenants.create_tenant(pool, tenant_id)
        await pool.execute("ALTER TABLE phone_states SET (autovacuum_enabled = false)")  # no ANALYZE meanwhile
        await pool.execute(
            """INSERT INTO phones (scope_id, phone_number, group_name)
               SELECT (SELECT scope_id FROM scopes WHERE tenant_id = 'storm'), (10000000000 + n)::text, ''
               FROM generate_series(1, $1) n
               UNION ALL
               SELECT (SELECT scope_id FROM scopes WHERE tenant_id = 'calm'), (20000000000 + n)::text, ''
               FROM generate_series(1, 100) n""", STORM)
        await pool.execute(
            """UPDATE phone_states s SET held = true, unique_id = 'storm-' || s.phone_id,
                      allocated_at = now() - interval '1 hour', expires_at = now() + interval '5 minutes'
               FROM scopes sc WHERE sc.scope_id = s.scope_id AND sc.tenant_id = 'storm'""")
        await pool.execute("ANALYZE phones")
        await pool.execute("ANALYZE phone_states")
        await pool.execute("UPDATE phone_states SET expires_at = now() - interval '1 second' WHERE held")
        yield pool, await pool.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = 'calm'")
    finally:
        await pool.close()
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_during_an_expiry_storm_allocation_still_reads_the_interactions_holds_on_the_holder_index(
    storm: tuple[asyncpg.Pool, int], generic: bool
) -> None:
    """On the expiry index, looking for the interaction's own expired holds would walk every
    expired hold of the table: 2.6 ms per allocation instead of 0.2 while 100,000 expired."""
    pool, scope_id = storm
    plans = await plans_inside(pool, "allocate_phone", scope_id, "someone", None, 0.0, 300.0, generic=generic)
    assert indexes_reading_the_interactions_holds(plans) == [{"phone_states_holder_uq"}] * 2


async def test_lookup_by_number_or_dn_id_uses_indexes(db, big_pool: int) -> None:
    plan = await plan_of(db, "phone_with_holder", big_pool, "10000000042", "42")
    assert "Seq Scan" not in set(node_types(plan))


INTERACTIONS = 1_000_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def many_interactions(db: asyncpg.Pool, big_pool: int) -> int:
    """1,000,000 interactions with a historySearchId and a call-return number each."""
    await db.execute(
        """INSERT INTO interactions (scope_id, unique_id, history_search_id, history_search_set_at,
                                     call_return_number, call_return_set_at)
           SELECT $1, 'i' || n, 'h' || n, now() - n * interval '1 millisecond',
                  (4400000000 + n % 500000)::text, now() - n * interval '1 millisecond'
           FROM generate_series(1, $2) n""",
        big_pool, INTERACTIONS,
    )
    await db.execute("ANALYZE interactions")
    return big_pool


@pytest.mark.parametrize(
    ("name", "value", "index"),
    [
        ("lookup_history_search_id", "h777", "interactions_history_search_idx"),
        ("lookup_call_return_number", "4400012345", "interactions_call_return_idx"),
    ],
)
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_interaction_lookups_use_their_indexes(
    db, many_interactions: int, name: str, value: str, index: str, generic: bool
) -> None:
    plan = await plan_of(db, name, many_interactions, value, 30, generic=generic)
    assert index in set(index_names(plan))
    assert "Seq Scan" not in set(node_types(plan))


async def test_dtmf_lookup_uses_a_code_index(db, many_interactions: int) -> None:
    plan = await plan_of(db, "lookup_dtmf_code", many_interactions, "123456")
    assert set(index_names(plan)) & {"allocations_open_code_uq", "allocations_code_history_idx"}
    assert "Seq Scan" not in set(node_types(plan))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def many_call_records(db: asyncpg.Pool, big_pool: int) -> int:
    """1,000,000 incoming-call records over 1,000 campaigns."""
    await db.execute(
        """INSERT INTO incoming_calls (scope_id, jp_token, caller_id, target_kind, target_id, calls_count,
                                       first_call_at, last_call_at, updated_at)
           SELECT $1, lpad(to_hex(n), 7, '0'), (972500000000 + n)::text, 'campaign', 'c' || (n % 1000), 1,
                  now() - n * interval '1 second', now() - n * interval '1 second', now() - n * interval '1 second'
           FROM generate_series(1, $2) n""",
        big_pool, 1_000_000,
    )
    await db.execute("ANALYZE incoming_calls")
    return big_pool


@pytest.mark.parametrize("window", [False, True], ids=["whole history", "time window"])
async def test_deflection_report_uses_its_index(db, many_call_records: int, window: bool) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    start, end = (now - timedelta(days=1), now) if window else (None, None)
    plan = await plan_of(db, "deflection_report", many_call_records, "campaign", "c42", start, end, 100_000)
    # Either index leads with (scope, target kind, target): the primary key also gives the row order.
    assert set(index_names(plan)) & {"incoming_calls_report_idx", "incoming_calls_pkey"}
    assert "Seq Scan" not in set(node_types(plan))


LARGE_TABLES = {"phones", "phone_states", "phone_history", "allocations", "interactions", "incoming_calls"}


def full_scans(plan: dict[str, Any]) -> Iterator[str]:
    if plan["Node Type"] == "Seq Scan":
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from full_scans(child)


# Queries that read a whole table on purpose: pool counts, and the migrations' own bookkeeping.
WHOLE_TABLE = {"pool_gauges", "pool_stats", "enabled_phones", "applied_migrations", "phones_row_versions"}
# DDL, maintenance, transaction control, and the import, which works on its own temporary table.
NOT_EXPLAINABLE = {"create_schema_migrations", "vacuum_phones", "rollback",
                   "create_phone_import", "analyze_phone_import", "phone_import_duplicates", "insert_imported_phones"}


@pytest.mark.parametrize("name", sorted(set(all_queries()) - WHOLE_TABLE - NOT_EXPLAINABLE))
async def test_generic_plan_of_every_query_avoids_full_scans(
    db, many_interactions: int, many_call_records: int, long_history: str, name: str
) -> None:
    # PostgreSQL moves a prepared statement to its generic plan after a few executions when that
    # plan looks no worse: no query may depend on a custom plan to stay off a full scan.
    async with db.acquire() as conn:
        explain = await conn.prepare("EXPLAIN (GENERIC_PLAN, FORMAT JSON) " + query(name))
        raw = await explain.fetchval(*[None] * len(explain.get_parameters()))
    plan = json.loads(raw)[0]["Plan"] if isinstance(raw, str) else raw[0]["Plan"]
    assert not set(full_scans(plan)) & LARGE_TABLES


HISTORY = 1_000_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def long_history(db: asyncpg.Pool, big_pool: int) -> str:
    """1,000,000 ended phone allocations over the last 30 days, spread over 100 tenants (after the
    test above, which keeps the data it was written for); the name of one of those tenants."""
    await db.execute("INSERT INTO tenants (tenant_id) SELECT 'h' || n FROM generate_series(0, 99) n")
    await db.execute("INSERT INTO scopes (tenant_id, environment) "
                     "SELECT 'h' || n, 'default' FROM generate_series(0, 99) n")
    await db.execute(
        """INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at,
                                      ended_at, end_reason)
           SELECT s.scope_id, (20000000000 + n)::text, 'g' || (n % 5), 'h' || n, at,
                  at + interval '5 minutes', at + interval '2 minutes', 'freed'
           FROM generate_series(1, $1) n
           JOIN scopes s ON s.tenant_id = 'h' || (n % 100),
           LATERAL (SELECT now() - n * interval '30 days' / $1 AS at) t
           ORDER BY at""",  # the history is written in time order
        HISTORY,
    )
    await db.execute("ANALYZE phone_history")
    return "h7"


@pytest.mark.parametrize("tenant", ["one tenant", "every tenant"])
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_sizing_reads_a_week_of_history_scope_by_scope_from_the_time_index(
    db, long_history: str, tenant: str, generic: bool
) -> None:
    plan = await plan_of(db, "pool_traffic", long_history if tenant == "one tenant" else None, None, None, 7,
                         generic=generic)
    assert "phone_history_allocated_brin" in set(index_names(plan))
    assert "phone_history" not in set(full_scans(plan))


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_rolling_up_an_hour_reads_the_time_index(db, long_history: str, generic: bool) -> None:
    plan = await plan_of(db, "roll_up_traffic_hour", 30, generic=generic)
    assert "phone_history_allocated_brin" in set(index_names(plan))
    assert "phone_history" not in set(full_scans(plan))
