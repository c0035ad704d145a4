"""Soak: two service processes, 64 clients, allocations freed or left to expire, for ~12 s.

Afterwards the history proves that no two holds of a phone overlapped, that every allocation
ended exactly once, and the processes' counters agree with the history.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DNIS, Tenant, make_tenant
from tests.invariants import invariant_violations
from tests.service_process import ServiceProcess

CLIENTS = 64
SECONDS = 12
PHONES = 20


def counter_sum(metrics_text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_two_processes_under_load_never_double_allocate(db, database_url, tmp_path) -> None:
    tenant: Tenant = await make_tenant(db, "soak")
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = 'soak'")
    await db.execute("INSERT INTO phones (scope_id, phone_number) SELECT $1, (4400000 + n)::text "
                     "FROM generate_series(1, $2) n", scope_id, PHONES)
    env = {"DNIS_SWEEP_INTERVAL_SECONDS": "0.2", "DNIS_DB_POOL_MAX_SIZE": "16"}
    with ServiceProcess(database_url, tmp_path, **env) as one, ServiceProcess(database_url, tmp_path, **env) as two:
        replicas = [one.url, two.url]
        outcomes: dict[int, int] = {}
        granted: list[tuple[str, str]] = []
        deadline = time.monotonic() + SECONDS
        limits = httpx.Limits(max_connections=CLIENTS * 2)

        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            async def client(n: int) -> None:
                rng = random.Random(n)
                step = 0
                while time.monotonic() < deadline:
                    step += 1
                    uid = f"c{n}-{step}"
                    response = await http.post(f"{rng.choice(replicas)}{DNIS}/allocate/new", headers=tenant.web,
                                               json={"id": uid, "timeoutSeconds": 1})
                    outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
                    if response.status_code != 200:
                        await asyncio.sleep(rng.uniform(0.01, 0.1))
                        continue
                    granted.append((uid, response.text))
                    await asyncio.sleep(rng.uniform(0, 0.3))
                    if rng.random() < 0.5:  # the IVR got the call: free; otherwise let it expire
                        freed = await http.post(f"{rng.choice(replicas)}{DNIS}/allocate/free/{response.text}",
                                                params={"uniqueId": uid}, headers=tenant.dnis_user)
                        outcomes[freed.status_code] = outcomes.get(freed.status_code, 0) + 1

            await asyncio.gather(*(client(n) for n in range(CLIENTS)))
            # Let the last allocations expire and the release job end them.
            for _ in range(50):
                if await db.fetchval("SELECT count(*) FROM phone_allocations WHERE ended_at IS NULL") == 0:
                    break
                await asyncio.sleep(0.2)
            texts = [(await http.get(f"{url}/metrics")).text for url in replicas]

    assert set(outcomes) <= {200, 403, 409}, outcomes
    assert len(granted) > 200, "the soak should have made a few hundred allocations"
    assert await invariant_violations(db) == []
    history = {r["unique_id"]: r for r in await db.fetch("SELECT * FROM phone_allocations")}
    assert {uid: history[uid]["phone_number"] for uid, _ in granted} == dict(granted)
    assert all(r["ended_at"] is not None and r["end_reason"] in ("freed", "expired") for r in history.values())
    by_reason = {
        reason: sum(1 for r in history.values() if r["end_reason"] == reason) for reason in ("freed", "expired")
    }
    counted = {
        reason: sum(counter_sum(t, "dnis_releases_total", tenant="soak", reason=reason) for t in texts)
        for reason in ("freed", "expired")
    }
    assert counted == by_reason
    assert sum(counter_sum(t, "dnis_allocations_total", tenant="soak") for t in texts) == len(history)
