"""Expiry storm: 100,000 allocations expire at the same moment while 16 clients keep allocating.

    .venv/bin/python bench/expiry_storm.py [--allocations 100000] [--clients 16] [--seconds 20]

Prints how long the release job (in the service process, every second) takes to end them all,
and the allocate/get/free latencies of the clients during the storm.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cycles import OPERATIONS, bench_database, http_load, percentile, prepare

from tests.service_process import ServiceProcess

EXPIRE_IN_SECONDS = 6


async def hold_storm(db_url: str, count: int) -> None:
    """`count` phones of tenant 'storm', each held until the same moment, a few seconds from now."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("INSERT INTO tenants (tenant_id) VALUES ('storm')")
        scope_id = await conn.fetchval(
            "INSERT INTO scopes (tenant_id, environment) VALUES ('storm', 'default') RETURNING scope_id")
        await conn.execute(
            """INSERT INTO phones (scope_id, phone_number) SELECT $1, (30000000000 + n)::text
               FROM generate_series(1, $2::int) n""", scope_id, count)
        await conn.execute(
            """UPDATE phone_states SET held = true, unique_id = 'storm-' || phone_id, allocated_at = now(),
                      expires_at = date_trunc('second', now()) + make_interval(secs => $2)
               WHERE scope_id = $1""", scope_id, float(EXPIRE_IN_SECONDS))
        await conn.execute("ANALYZE phones")
        await conn.execute("ANALYZE phone_states")
    finally:
        await conn.close()


async def watch_release(db_url: str, deadline: float) -> tuple[float | None, float | None]:
    """(when the storm expired, when the last of it was released), as monotonic times."""
    conn = await asyncpg.connect(db_url)
    expired_at = released_at = None
    try:
        expiry = await conn.fetchval("SELECT max(expires_at) FROM phone_states WHERE unique_id LIKE 'storm-%'")
        while time.monotonic() < deadline:
            now, still_open = await conn.fetchrow(
                "SELECT now(), count(*) FROM phone_states WHERE unique_id LIKE 'storm-%' AND held")
            if expired_at is None and now >= expiry:
                expired_at = time.monotonic() - (now - expiry).total_seconds()
            if expired_at is not None and still_open == 0:
                released_at = time.monotonic()
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return expired_at, released_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--allocations", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with bench_database() as (db_url, scratch):
        tenant = asyncio.run(prepare(db_url, 1000, 1))
        with ServiceProcess(db_url, scratch) as service:  # production settings, as in cycles.py
            asyncio.run(hold_storm(db_url, args.allocations))
            with ThreadPoolExecutor(1) as load:
                clients = load.submit(http_load, service.url, tenant, "load", args.clients, args.seconds)
                expired_at, released_at = asyncio.run(watch_release(db_url, time.monotonic() + args.seconds + 30))
                tally = clients.result()
    took = None if expired_at is None or released_at is None else released_at - expired_at
    print(f"{args.allocations} allocations expired together; all released "
          + (f"{took:.1f} s after their expiry" if took is not None else "NOT within the run"))
    print(f"clients during the storm: {tally.cycles / args.seconds:.0f} cycles/s, errors {tally.errors}")
    for op in OPERATIONS:
        values = tally.latencies[op]
        print(f"{op:9} ms p50 {percentile(values, .5):6.2f} p95 {percentile(values, .95):6.2f}"
              f" p99 {percentile(values, .99):6.2f}")


if __name__ == "__main__":
    main()
