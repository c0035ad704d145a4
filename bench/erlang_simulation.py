"""Does Erlang B fit this service? Random traffic at a known load against a small pool, over HTTP.

    .venv/bin/python bench/erlang_simulation.py [--cases 2:4 5:8 10:12] [--hold 0.5] [--seconds 150] [--seed 1]

For each case A:N it gives a group of N phones to arrivals that come as a Poisson process of rate
A / hold per second; each arrival allocates a phone (POST allocate/new) and, if it got one, frees
it (POST allocate/free) after an exponentially distributed time of mean `hold` seconds. Time is
scaled down (holds of a fraction of a second) so that a case takes a couple of minutes.

The service runs in its own process (`dnis-service serve`, jobs on) on an embedded PostgreSQL, or
on DNIS_BENCH_DATABASE_URL. Arrivals in the first ten mean holds (the pool filling up) are not
counted. Printed per case: arrivals and refusals counted, the observed blocking with its 95 %
interval (Wilson's, from the number of arrivals; refusals come in bursts, so the interval is if
anything narrow), Erlang B at the nominal load, and at the load the service measured (arrival
rate times the mean hold of the allocations as stored, request latency included); and whether the
refusals the service stored for pool sizing match the 403s the clients saw.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cycles import bench_database, percentile

from dnis_service.db.migrations import migrate
from dnis_service.domain.erlang import blocking
from tests.conftest import Tenant, make_tenant
from tests.service_process import ServiceProcess

DNIS = "/interact/version/2/dnis"
WARM_UP_HOLDS = 10
Z_95 = 1.959964


@dataclass
class Tally:
    arrivals: int = 0
    refused: int = 0
    refused_in_warm_up: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def wilson(refused: int, arrivals: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion."""
    if arrivals == 0:
        return 0.0, 1.0
    p, z2 = refused / arrivals, Z_95**2
    centre = (p + z2 / (2 * arrivals)) / (1 + z2 / arrivals)
    half = Z_95 * math.sqrt(p * (1 - p) / arrivals + z2 / (4 * arrivals**2)) / (1 + z2 / arrivals)
    return max(0.0, centre - half), min(1.0, centre + half)


async def prepare(db_url: str, cases: list[tuple[float, int]]) -> Tenant:
    """Tenant 'sim' with a group of N phones per case."""
    conn = await asyncpg.connect(db_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        tenant = await make_tenant(pool, "sim")
        for number, (load, phones) in enumerate(cases):
            await pool.execute(
                """INSERT INTO phones (scope_id, phone_number, group_name)
                   SELECT scope_id, (15550000000 + $1 * 1000 + n)::text, $2 FROM scopes, generate_series(1, $3) n
                   WHERE tenant_id = 'sim'""",
                number, group_of(load, phones), phones,
            )
    finally:
        await pool.close()
    return tenant


def group_of(load: float, phones: int) -> str:
    return f"a{load:g}n{phones}"


async def drive(url: str, tenant: Tenant, load: float, phones: int, hold: float, seconds: float,
                rng: random.Random) -> Tally:
    """Poisson arrivals for `seconds`, counted after the warm-up."""
    tally, group = Tally(), group_of(load, phones)
    rate = load / hold
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        started = time.monotonic()
        counting_from = started + WARM_UP_HOLDS * hold
        tasks: set[asyncio.Task[None]] = set()

        async def arrival(number: int, counted: bool) -> None:
            sent = time.monotonic()
            response = await http.post(f"{DNIS}/allocate/new", json={"id": f"{group}-{number}", "group": group,
                                                                    "timeoutSeconds": 600}, headers=tenant.web)
            tally.latencies.append(time.monotonic() - sent)
            if response.status_code == 403:
                tally.refused += counted
                tally.refused_in_warm_up += not counted
                return
            if response.status_code != 200:
                tally.errors += 1
                return
            await asyncio.sleep(rng.expovariate(1 / hold))
            freed = await http.post(f"{DNIS}/allocate/free/{response.text}", headers=tenant.dnis_user)
            tally.errors += freed.status_code != 200

        next_at, number = started, 0
        while True:
            next_at += rng.expovariate(rate)
            if next_at - started > seconds:
                break
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            counted = next_at >= counting_from
            tally.arrivals += counted
            task = asyncio.create_task(arrival(number, counted))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            number += 1
        await asyncio.gather(*tasks)
    return tally


async def stored(db_url: str, load: float, phones: int, seconds: float) -> tuple[float, int]:
    """(the offered load as the service's history shows it, the refusals it stored for sizing)."""
    conn = await asyncpg.connect(db_url)
    try:
        group = group_of(load, phones)
        allocations, held = await conn.fetchrow(
            """SELECT count(*), avg(extract(epoch FROM ended_at - allocated_at))::float8 FROM phone_history
               WHERE group_name = $1""", group)
        refusals = await conn.fetchval(
            "SELECT coalesce(sum(refusals), 0)::bigint FROM pool_traffic_hours WHERE group_name = $1", group)
    finally:
        await conn.close()
    return (allocations + refusals) / seconds * (held or 0.0), int(refusals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["2:4", "5:8", "10:12"], help="load:phones (Erlangs:numbers)")
    parser.add_argument("--hold", type=float, default=0.5, help="mean seconds a number is held")
    parser.add_argument("--seconds", type=float, default=150, help="how long each case runs")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cases = [(float(a), int(n)) for a, n in (case.split(":") for case in args.cases)]
    rng = random.Random(args.seed)
    with bench_database() as (db_url, scratch):
        tenant = asyncio.run(prepare(db_url, cases))
        with ServiceProcess(db_url, scratch) as service:
            print(f"mean hold {args.hold} s, {args.seconds:g} s per case, first {WARM_UP_HOLDS} holds not counted\n")
            print("| A (Erlangs) | N | arrivals | refused | observed blocking | 95 % interval | Erlang B(A, N) | "
                  "A measured | Erlang B there | refusals stored / 403s | allocate p99 |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for load, phones in cases:
                tally = asyncio.run(drive(service.url, tenant, load, phones, args.hold, args.seconds, rng))
                measured, refusals = asyncio.run(stored(db_url, load, phones, args.seconds))
                low, high = wilson(tally.refused, tally.arrivals)

                def judged(predicted: float, low: float = low, high: float = high) -> str:
                    return f"{predicted:.4f}" + ("" if low <= predicted <= high else " (outside)")

                print(f"| {load:g} | {phones} | {tally.arrivals:,} | {tally.refused:,} | "
                      f"{tally.refused / tally.arrivals:.4f} | {low:.4f} to {high:.4f} | "
                      f"{judged(blocking(load, phones))} | "
                      f"{measured:.2f} | {judged(blocking(measured, phones))} | "
                      f"{refusals:,} / {tally.refused + tally.refused_in_warm_up:,} | "
                      f"{percentile(tally.latencies, 0.99) * 1000:.1f} ms |"
                      + (f" errors: {tally.errors}" if tally.errors else ""), flush=True)


if __name__ == "__main__":
    main()
