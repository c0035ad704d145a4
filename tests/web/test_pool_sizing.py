"""Pool sizing in the operator API: what is measured per group, Erlang B's answers, the planner."""

from __future__ import annotations

import math

import asyncpg
import pytest

from dnis_service.domain import tenants
from dnis_service.jobs import size_pools
from tests.conftest import ADMIN_TOKEN, DNIS, Tenant, add_phones, make_tenant, set_policy

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PLANNER = "/admin/v1/sizing"


def erlang_b_by_sum(load: float, phones: int) -> float:
    """Erlang's formula as printed, (A^N / N!) / sum of A^k / k! for k = 0..N: fine for small N."""
    terms = [load**k / math.factorial(k) for k in range(phones + 1)]
    return terms[-1] / sum(terms)


async def sizing(client, tenant_id: str, **params: object) -> list[dict[str, object]]:
    response = await client.get(f"/admin/v1/tenants/{tenant_id}/pool/sizing", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()
    return rows


async def allocate(client, tenant: Tenant, uid: str, **body: object) -> int:
    response = await client.post(f"{DNIS}/allocate/new", json={"id": uid, **body}, headers=tenant.web)
    return response.status_code


async def add_history(db: asyncpg.Pool, tenant: Tenant, hours_ago: int, count: int, held_seconds: float,
                      group: str = "") -> None:
    """`count` ended allocations made ten minutes into the clock hour (UTC) `hours_ago` hours before
    the current one, each held `held_seconds`, each on a number of its own."""
    await db.execute(
        """INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at,
                                      ended_at, end_reason)
           SELECT s.scope_id, (8000000000 + $2 * 100000 + n)::text, $4, 'h' || $2 || '-' || n, at,
                  at + interval '1 hour', at + make_interval(secs => $5), 'freed'
           FROM scopes s,
                generate_series(1, $3) n,
                LATERAL (SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => $2) + interval '10 minutes'
                         AS at) t
           WHERE s.tenant_id = $1 AND s.environment = 'default'""",
        tenant.tenant_id, hours_ago, count, group, float(held_seconds),
    )


async def hour_of(db: asyncpg.Pool, hours_ago: int) -> str:
    """The start of the clock hour `hours_ago` before the current one, as the API writes it."""
    start = await db.fetchval("SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => $1)", hours_ago)
    return str(start.isoformat().replace("+00:00", "Z"))


async def current_hour_so_far(db: asyncpg.Pool) -> float:
    """The hours the current clock hour counts as observed: since it began, a quarter at least."""
    hours: float = await db.fetchval(
        "SELECT greatest(extract(epoch FROM now() - date_trunc('hour', now(), 'UTC'))::float8 / 3600, 0.25)")
    return hours


async def test_open_allocation_counts_as_held_so_far_plus_the_quarantine(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 3, group="sales")
    await set_policy(client, tenant.tenant_id, quarantineSeconds=30)
    assert await allocate(client, tenant, "u1", timeoutSeconds=600) == 200
    # Held for two minutes so far, as if allocated then (in this clock hour or the one before).
    allocated_at = await db.fetchval(
        "UPDATE phone_states SET allocated_at = allocated_at - interval '120 seconds' WHERE held "
        "RETURNING allocated_at")
    [row] = await sizing(client, tenant.tenant_id)
    hours_observed = await db.fetchval(
        """SELECT greatest(least(extract(epoch FROM now() - date_trunc('hour', $1::timestamptz, 'UTC'))::float8 / 3600,
                                 1), 0.25)""", allocated_at)
    rate, hold = 1 / hours_observed, 150.0
    load = rate * hold / 3600
    assert row == {
        "environment": "default", "group": "sales", "phones": 3,
        "busyHourStart": allocated_at.replace(minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z"),
        "arrivalsPerHour": pytest.approx(rate, rel=1e-3), "meanHoldSeconds": pytest.approx(hold, abs=1),
        "offeredLoadErlangs": pytest.approx(load, rel=1e-2),
        "predictedBlocking": pytest.approx(erlang_b_by_sum(load, 3), rel=5e-2),
        "observedBlocking": 0.0, "targetBlocking": 0.001,
        "recommendedPhones": next(n for n in range(10) if erlang_b_by_sum(load, n) <= 0.001),
    }


async def test_arrivals_of_the_current_hour_count_at_their_rate_so_far(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2)
    assert [await allocate(client, tenant, uid) for uid in ("u1", "u2", "u3")] == [200, 200, 403]
    [row] = await sizing(client, tenant.tenant_id)
    assert (row["busyHourStart"], row["arrivalsPerHour"]) == (
        await hour_of(db, 0), pytest.approx(3 / await current_hour_so_far(db), rel=1e-3))


async def test_refusal_for_want_of_a_phone_is_an_arrival_and_observed_as_blocking(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    assert [await allocate(client, tenant, uid) for uid in ("u1", "u2", "u3")] == [200, 403, 403]
    [row] = await sizing(client, tenant.tenant_id)
    assert row["observedBlocking"] == pytest.approx(2 / 3)


async def test_refusal_counts_in_the_group_asked_for(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1, group="sales")
    assert await allocate(client, tenant, "u1", group="support") == 403
    rows = await sizing(client, tenant.tenant_id)
    assert [(r["group"], r["phones"], r["observedBlocking"]) for r in rows] == [
        ("sales", 1, None), ("support", 0, 1.0)]


async def test_repeating_an_allocation_of_one_interaction_is_one_arrival(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2)
    assert [await allocate(client, tenant, "u1") for _ in range(3)] == [200, 200, 200]
    [row] = await sizing(client, tenant.tenant_id)
    assert row["arrivalsPerHour"] == pytest.approx(1 / await current_hour_so_far(db), rel=1e-3)


async def test_busy_hour_has_the_most_arrivals_and_the_hold_is_the_window_mean(client, db, tenant: Tenant) -> None:
    await add_history(db, tenant, hours_ago=30, count=4, held_seconds=900)
    await add_history(db, tenant, hours_ago=5, count=10, held_seconds=360)
    await add_history(db, tenant, hours_ago=2, count=10, held_seconds=180)  # as busy: the later one wins
    await add_history(db, tenant, hours_ago=1, count=3, held_seconds=60)
    [row] = await sizing(client, tenant.tenant_id)
    hold = (4 * 900 + 10 * 360 + 10 * 180 + 3 * 60) / 27
    assert (row["busyHourStart"], row["arrivalsPerHour"]) == (await hour_of(db, 2), 10)
    assert (row["meanHoldSeconds"], row["offeredLoadErlangs"]) == (pytest.approx(hold), pytest.approx(10 * hold / 3600))
    assert (row["phones"], row["predictedBlocking"]) == (0, 1.0)


async def test_days_sets_the_window(client, db, tenant: Tenant) -> None:
    await add_history(db, tenant, hours_ago=30, count=40, held_seconds=900)
    await add_history(db, tenant, hours_ago=5, count=10, held_seconds=360)
    [week] = await sizing(client, tenant.tenant_id)
    [day] = await sizing(client, tenant.tenant_id, days=1)
    assert (week["arrivalsPerHour"], day["arrivalsPerHour"]) == (40, 10)
    assert day["meanHoldSeconds"] == pytest.approx(360)


async def test_rolled_up_hours_size_the_pool_as_the_history_did(client, db, tenant: Tenant) -> None:
    phone = (await add_phones(client, tenant, 1))[0]
    await add_history(db, tenant, hours_ago=50, count=7, held_seconds=500)
    await add_history(db, tenant, hours_ago=3, count=40, held_seconds=200)
    await add_history(db, tenant, hours_ago=1, count=2, held_seconds=100)
    assert [await allocate(client, tenant, uid) for uid in ("u1", "u2")] == [200, 403]
    freed = await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert freed.status_code == 200  # nothing open: no figure moves with the clock
    before = await sizing(client, tenant.tenant_id)
    for _ in range(3):  # the job's runs, a minute apart: each rolls up two days at most
        await size_pools(db, retention_days=5)
    rolled_until = await db.fetchval("SELECT rolled_until FROM pool_traffic_rollup")
    assert rolled_until == await db.fetchval("SELECT date_trunc('hour', now(), 'UTC') - interval '1 hour'")
    assert await db.fetchval("SELECT sum(allocations) FROM pool_traffic_hours") == 7 + 40
    assert await sizing(client, tenant.tenant_id) == before


async def test_tenant_target_blocking_sets_the_recommendation(client, db, tenant: Tenant) -> None:
    await add_history(db, tenant, hours_ago=2, count=3600, held_seconds=10)  # 10 Erlangs
    [strict] = await sizing(client, tenant.tenant_id)
    await set_policy(client, tenant.tenant_id, targetBlocking=0.01)
    [loose] = await sizing(client, tenant.tenant_id)
    assert (strict["recommendedPhones"], loose["recommendedPhones"], loose["targetBlocking"]) == (21, 18, 0.01)


async def test_environment_and_group_choose_the_rows(client, db) -> None:
    tenant = await make_tenant(db, "t-envs", ["Prod"])
    await add_phones(client, tenant, 2, group="sales")
    await add_phones(client, tenant, 1, group="support", start=3)
    prod_key = (await tenants.create_application(db, tenant.tenant_id, "dnis", None, "Prod")).application_key
    prod = Tenant(tenant.tenant_id, {"dnis": prod_key})
    response = await client.post(f"{DNIS}/bulk", json=[{"phoneNumber": "15559990001", "groupName": "sales"}],
                                 headers=prod.headers("dnis", user=True, **{"Environment-Name": "Prod"}))
    assert response.status_code == 200, response.text
    every = await sizing(client, tenant.tenant_id)
    assert [(r["environment"], r["group"], r["phones"]) for r in every] == [
        ("Prod", "sales", 1), ("default", "sales", 2), ("default", "support", 1)]
    assert [r["environment"] for r in await sizing(client, tenant.tenant_id, environment="Prod")] == ["Prod"]
    assert [r["group"] for r in await sizing(client, tenant.tenant_id, environment="default", group="support")] == [
        "support"]


@pytest.mark.parametrize(("tenant_id", "params", "status", "named"), [
    ("nobody", {}, 404, "nobody"),
    ("12345678", {"environment": "Staging"}, 400, "environment"),
    ("12345678", {"days": 0}, 400, "days"),
    ("12345678", {"days": 367}, 400, "days"),
    ("12345678", {"days": "week"}, 400, "days"),
    ("12345678", {"days": "7.0"}, 400, "days"),
])
async def test_bad_sizing_request_is_a_json_error_naming_the_problem(
    client, tenant: Tenant, tenant_id: str, params: dict[str, object], status: int, named: str
) -> None:
    response = await client.get(f"/admin/v1/tenants/{tenant_id}/pool/sizing", params=params, headers=ADMIN)
    assert response.status_code == status
    assert named in response.json()["message"]


async def test_sizing_needs_the_admin_token(client, tenant: Tenant) -> None:
    response = await client.get(f"/admin/v1/tenants/{tenant.tenant_id}/pool/sizing")
    assert response.status_code == 401


@pytest.mark.parametrize("value", [0, 1, -0.5, 1.5, "0.01", True, None])
async def test_bad_target_blocking_setting_is_400(client, tenant: Tenant, value: object) -> None:
    response = await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings", json={"targetBlocking": value},
                                  headers=ADMIN)
    assert response.status_code == 400
    assert "targetBlocking" in response.json()["message"]


async def test_planner_gives_the_blocking_of_a_size(client) -> None:
    response = await client.get(PLANNER, params={"offeredLoad": 10, "phones": 18}, headers=ADMIN)
    assert response.json() == {"offeredLoad": 10.0, "phones": 18, "blocking": pytest.approx(erlang_b_by_sum(10, 18))}


async def test_planner_gives_the_smallest_size_meeting_a_target(client) -> None:
    response = await client.get(PLANNER, params={"offeredLoad": 100, "targetBlocking": 0.001}, headers=ADMIN)
    body = response.json()
    assert (body["offeredLoad"], body["targetBlocking"], body["phones"]) == (100.0, 0.001, 128)
    assert body["blocking"] == pytest.approx(0.000967631, rel=1e-5)


async def test_planner_takes_arrivals_per_hour_and_seconds_held(client) -> None:
    response = await client.get(PLANNER, params={"arrivalsPerHour": 3600, "holdSeconds": 10, "phones": 18},
                                headers=ADMIN)
    assert response.json()["offeredLoad"] == 10.0


async def test_planner_sizes_ten_thousand_erlangs(client) -> None:
    response = await client.get(PLANNER, params={"offeredLoad": 10_000, "targetBlocking": 0.001}, headers=ADMIN)
    assert response.json()["phones"] == 10_170


@pytest.mark.parametrize(("query", "named"), [
    ("offeredLoad=-1&phones=3", "offeredLoad"),
    ("offeredLoad=nan&phones=3", "offeredLoad"),
    ("offeredLoad=inf&phones=3", "offeredLoad"),
    ("offeredLoad=1e9&phones=3", "offeredLoad"),
    ("offeredLoad=ten&phones=3", "offeredLoad"),
    ("phones=3", "offeredLoad"),
    ("offeredLoad=1&arrivalsPerHour=60&holdSeconds=60&phones=3", "offeredLoad"),
    ("arrivalsPerHour=60&phones=3", "offeredLoad"),
    ("arrivalsPerHour=1e9&holdSeconds=1e9&phones=3", "arrivalsPerHour"),
    ("arrivalsPerHour=-60&holdSeconds=60&phones=3", "arrivalsPerHour"),
    ("arrivalsPerHour=60&holdSeconds=nan&phones=3", "holdSeconds"),
    ("offeredLoad=1", "phones"),
    ("offeredLoad=1&phones=3&targetBlocking=0.01", "phones"),
    ("offeredLoad=1&phones=-1", "phones"),
    ("offeredLoad=1&phones=2.5", "phones"),
    ("offeredLoad=1&phones=1e3", "phones"),
    ("offeredLoad=1&phones=99999999999", "phones"),
    ("offeredLoad=1&targetBlocking=0", "targetBlocking"),
    ("offeredLoad=1&targetBlocking=1", "targetBlocking"),
    ("offeredLoad=1&targetBlocking=nan", "targetBlocking"),
])
async def test_bad_planner_parameters_are_400_naming_the_field(client, query: str, named: str) -> None:
    response = await client.get(f"{PLANNER}?{query}", headers=ADMIN)
    assert response.status_code == 400
    assert named in response.json()["message"]
