"""The release job, pool gauges and retention purge (docs/operations.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import asyncpg
import pytest
from prometheus_client import generate_latest

from dnis_service import metrics
from dnis_service.db.pool import create_pool
from dnis_service.domain import sizing
from dnis_service.jobs import (
    VACUUM_MIN_DEAD_ROWS,
    Jobs,
    purge_history,
    refresh_gauges,
    release_expired,
    size_pools,
    vacuum_phones,
)
from tests.conftest import Tenant


def releases(tenant: str, reason: str = "expired", kind: str = "phone") -> float:
    return metrics.REGISTRY.get_sample_value(
        "dnis_releases_total", {"tenant": tenant, "kind": kind, "reason": reason}
    ) or 0.0


async def hold_phones(db: asyncpg.Pool, tenant: Tenant, count: int, expires_in: str) -> None:
    """`count` phones of the tenant, each held by an interaction until now() + expires_in."""
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    prefix = int(tenant.tenant_id[:4])
    await db.execute(
        """INSERT INTO phones (scope_id, phone_number) SELECT $1, ($2::bigint * 100000000 + n)::text
           FROM generate_series(1, $3) n""",
        scope_id, prefix, count,
    )
    await db.execute(
        f"""UPDATE phone_states SET held = true, unique_id = 'i' || phone_id,
                   allocated_at = now() - interval '1 hour', expires_at = now() + interval '{expires_in}'
            WHERE scope_id = $1 AND NOT held""",
        scope_id,
    )


async def test_release_job_ends_expired_allocations_as_expired_at_their_expiry(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 30, "-1 minute")
    before = releases(tenant.tenant_id)
    assert await release_expired(db, batch=7) == 30
    rows = await db.fetch("SELECT end_reason, ended_at = expires_at AS exact FROM phone_history")
    assert {(r["end_reason"], r["exact"]) for r in rows} == {("expired", True)}
    assert await db.fetchval("SELECT count(*) FROM phone_states WHERE held") == 0
    assert releases(tenant.tenant_id) - before == 30


async def test_release_job_leaves_live_allocations_alone(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 5, "1 hour")
    assert await release_expired(db) == 0
    assert await db.fetchval("SELECT count(*) FROM phone_allocations WHERE ended_at IS NULL") == 5


async def test_release_job_ends_expired_dtmf_codes(db, tenant: Tenant) -> None:
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    await db.execute(
        """INSERT INTO allocations (scope_id, kind, dtmf_code, unique_id, allocated_at, expires_at)
           VALUES ($1, 'dtmf', '123456', 'u1', now() - interval '1 hour', now() - interval '1 second')""",
        scope_id,
    )
    assert await release_expired(db) == 1
    assert await db.fetchval("SELECT end_reason FROM allocations") == "expired"


async def test_two_replicas_sweeping_together_release_each_allocation_once(
    db, database_url: str, tenant: Tenant
) -> None:
    await hold_phones(db, tenant, 3000, "-1 minute")
    before = releases(tenant.tenant_id)
    other = await create_pool(database_url, min_size=1, max_size=2)
    try:
        counts = await asyncio.gather(release_expired(db, batch=50), release_expired(other, batch=50))
    finally:
        await other.close()
    assert sum(counts) == 3000
    assert all(count > 0 for count in counts), "both replicas should have taken part"
    assert await db.fetchval("SELECT count(*) FROM phone_history WHERE end_reason = 'expired'") == 3000
    assert releases(tenant.tenant_id) - before == 3000


async def test_pool_gauges_come_from_the_database(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 4, "1 hour")
    await db.execute("INSERT INTO phones (scope_id, phone_number, enabled) SELECT scope_id, '999001', false "
                     "FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    await refresh_gauges(db)
    labels = {"tenant": tenant.tenant_id, "environment": "default", "group": ""}

    def value(state: str) -> float | None:
        return metrics.REGISTRY.get_sample_value("dnis_pool_phones", labels | {"state": state})

    assert (value("allocated"), value("free"), value("disabled")) == (4, 0, 1)


async def test_a_scrape_never_queries_the_database(db) -> None:
    for n in range(1000):
        await make_tenant_quick(db, f"t{n}")
    await refresh_gauges(db)
    await db.close()  # the scrape below would fail if it needed the database
    text = generate_latest(metrics.REGISTRY).decode()
    assert text.count('dnis_pool_phones{environment="default",group="",state="free",tenant="t') == 1000


async def test_sizing_gauges_come_from_the_sizing_job(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 4, "1 hour")  # 4 arrivals in an hour past, each held an hour so far
    await size_pools(db, retention_days=30)
    [expected] = await sizing.pool_sizing(db, tenant.tenant_id)
    labels = {"tenant": tenant.tenant_id, "environment": "default", "group": ""}
    load = metrics.REGISTRY.get_sample_value("dnis_pool_offered_load_erlangs", labels)
    recommended = metrics.REGISTRY.get_sample_value("dnis_pool_recommended_phones", labels)
    assert (load, recommended) == (pytest.approx(4.0, rel=1e-3), expected.recommended_phones)
    assert expected.offered_load_erlangs == pytest.approx(4.0, rel=1e-3)


async def test_retention_purges_hourly_traffic_older_than_the_period(db, tenant: Tenant) -> None:
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    await db.execute(
        """INSERT INTO pool_traffic_hours (scope_id, group_name, hour, refusals)
           SELECT $1, '', date_trunc('hour', now()) - make_interval(days => d), 1 FROM unnest('{29, 31}'::int[]) d""",
        scope_id,
    )
    await purge_history(db, retention_days=30)
    assert await db.fetchval("SELECT count(*) FROM pool_traffic_hours") == 1


async def make_tenant_quick(db: asyncpg.Pool, tenant_id: str) -> None:
    await db.execute("INSERT INTO tenants (tenant_id) VALUES ($1)", tenant_id)
    scope_id = await db.fetchval(
        "INSERT INTO scopes (tenant_id, environment) VALUES ($1, 'default') RETURNING scope_id", tenant_id
    )
    await db.execute("INSERT INTO phones (scope_id, phone_number) VALUES ($1, $2)", scope_id,
                     f"77{scope_id:08d}")


@pytest.mark.parametrize(("ended_days_ago", "kept"), [(31, False), (29, True)])
async def test_retention_purges_only_history_older_than_the_period(
    db, tenant: Tenant, ended_days_ago: int, kept: bool
) -> None:
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    await db.execute(
        """INSERT INTO allocations
               (scope_id, kind, dtmf_code, unique_id, allocated_at, expires_at, ended_at, end_reason)
           VALUES ($1, 'dtmf', '1234', 'old', now() - make_interval(days => $2) - interval '1 hour',
                   now() - make_interval(days => $2), now() - make_interval(days => $2), 'freed')""",
        scope_id, ended_days_ago,
    )
    await db.execute(
        """INSERT INTO interactions (scope_id, unique_id, updated_at)
           VALUES ($1, 'old', now() - make_interval(days => $2))""",
        scope_id, ended_days_ago,
    )
    await purge_history(db, retention_days=30, batch=10)
    assert await db.fetchval("SELECT count(*) FROM allocations") == int(kept)
    assert await db.fetchval("SELECT count(*) FROM interactions") == int(kept)


async def test_retention_keeps_interactions_that_hold_something(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 1, "1 hour")
    await db.execute("INSERT INTO interactions (scope_id, unique_id, updated_at) "
                     "SELECT scope_id, unique_id, now() - interval '60 days' FROM phone_allocations")
    await purge_history(db, retention_days=30)
    assert await db.fetchval("SELECT count(*) FROM interactions") == 1


async def phones_statistics(db: asyncpg.Pool, ready: str) -> asyncpg.Record:
    """pg_stat_user_tables for the phones' state rows once `ready` (a condition on it) holds; the statistics
    arrive about a second after the transactions they count."""
    deadline = time.monotonic() + 10
    while True:
        row = await db.fetchrow(
            f"SELECT n_dead_tup, vacuum_count, ({ready}) AS ready FROM pg_stat_user_tables "
            "WHERE relname = 'phone_states'")
        if row["ready"] or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.1)


async def test_phones_are_vacuumed_once_dead_row_versions_pile_up(db, tenant: Tenant) -> None:
    await hold_phones(db, tenant, 100, "1 hour")
    assert await vacuum_phones(db) is False
    async with db.acquire() as conn:
        for _ in range(VACUUM_MIN_DEAD_ROWS // 100 + 10):  # each phone changes hands that often
            await conn.execute("UPDATE phone_states SET released_at = now()")
        await conn.execute("SELECT pg_stat_force_next_flush()")
    assert (await phones_statistics(db, f"n_dead_tup >= {VACUUM_MIN_DEAD_ROWS}"))["ready"]
    assert await vacuum_phones(db) is True
    after = await phones_statistics(db, "vacuum_count > 0")
    assert after["vacuum_count"] == 1
    assert after["n_dead_tup"] < VACUUM_MIN_DEAD_ROWS


def sweeps_done() -> float:
    return metrics.REGISTRY.get_sample_value("dnis_sweep_duration_seconds_count") or 0.0


async def test_jobs_running_idle_log_no_line_at_info(db, settings, caplog) -> None:
    caplog.set_level(logging.INFO)
    jobs = Jobs(db, replace(settings, sweep_interval_seconds=0.05))
    before = sweeps_done()
    jobs.start()
    try:
        for _ in range(600):  # until the release job has run a few times
            if sweeps_done() - before >= 5:
                break
            await asyncio.sleep(0.05)
    finally:
        await jobs.stop()
    assert sweeps_done() - before >= 5
    chatter = [record.getMessage() for record in caplog.records
               if record.name.startswith("apscheduler") and record.levelno < logging.WARNING]
    assert chatter == []


async def test_a_failing_job_is_still_logged(database_url: str, settings, caplog) -> None:
    closed = await create_pool(database_url, min_size=1, max_size=1)
    await closed.close()
    jobs = Jobs(closed, replace(settings, sweep_interval_seconds=0.05))
    jobs.start()
    try:
        for _ in range(600):
            if any("job failed job='release expired'" in record.getMessage() for record in caplog.records):
                break
            await asyncio.sleep(0.05)
    finally:
        await jobs.stop()
    failures = [record for record in caplog.records if "job failed job='release expired'" in record.getMessage()]
    assert failures and failures[0].levelno == logging.WARNING
