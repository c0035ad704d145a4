"""Failover: the primary goes away, the synchronous standby is promoted, and the service follows.

A primary and a synchronous streaming standby from Debian's PostgreSQL packages
(tests/replication.py); two `dnis-service serve` processes on the host list, as a Patroni
cluster is named; 16 clients allocating and freeing through them. The primary crashes, is
switched over, or hangs; the standby is promoted. Callers get answers within the statement
timeout (plus a margin), refusals are 503s with Retry-After and never 500s, the service recovers
by itself, and on the new primary every acknowledged allocation is there, no number was held
twice, readiness is back, the release job runs and a key revoked after the failover is refused
at once by both processes.

Each test prints what callers saw (docs/high-availability.md records the figures). They are
skipped where the PostgreSQL server packages are missing; CI installs them (.ci/run).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from dnis_service.db.migrations import migrate
from dnis_service.db.pool import create_pool
from tests.conftest import ADMIN_TOKEN, DNIS, Tenant, add_raw_phones, make_tenant, status_once_settled
from tests.invariants import invariant_violations
from tests.replication import Cluster, primary_with_standby, why_unavailable
from tests.service_process import CLI, ServiceProcess

pytestmark = pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))

STATEMENT_TIMEOUT = 2.0
# A request not answered after this long counts as hung: the service promises an answer within
# the statement timeout plus a margin of half a second (docs/high-availability.md).
HUNG_AFTER = 3 * STATEMENT_TIMEOUT
CLIENTS = 16
PHONES = 300
# As long as callers see the old primary's fault before a standby is promoted.
PROMOTE_AFTER = 2.0
# Load before the fault, and after the service recovered.
STEADY_SECONDS = 1.5
# Ample: the service recovers within a second or two of a promotion.
RECOVERY_SECONDS = 30.0
TENANT = "failover"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SERVICE_ENV = {
    "DNIS_DB_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT),
    "DNIS_SWEEP_INTERVAL_SECONDS": "0.2",
    "DNIS_ADMIN_TOKEN": ADMIN_TOKEN,
}


@dataclass
class Answer:
    service: int
    sent: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no answer within HUNG_AFTER
    retry_after: str | None


@dataclass
class Hold:
    """An allocation as its client saw it: granted then, held at least until it sent the free."""

    service: int
    unique_id: str
    phone: str
    granted: float
    free_sent: float | None = None


@dataclass
class Load:
    """CLIENTS clients, each on one of the services, allocating and freeing in a loop."""

    services: list[ServiceProcess]
    tenant: Tenant
    allocations: list[Answer] = field(default_factory=list)
    frees: list[Answer] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)

    async def _call(self, http: httpx.AsyncClient, service: int, record: list[Answer],
                    path: str, **options: Any) -> httpx.Response | None:
        sent = time.monotonic()
        try:
            response = await http.post(f"{self.services[service].url}{path}", **options)
        except httpx.TimeoutException:
            record.append(Answer(service, sent, time.monotonic() - sent, None, None))
            return None
        record.append(Answer(service, sent, time.monotonic() - sent, response.status_code,
                             response.headers.get("Retry-After")))
        return response

    async def client(self, http: httpx.AsyncClient, n: int, stop: asyncio.Event) -> None:
        service, rng, step = n % len(self.services), random.Random(n), 0
        while not stop.is_set():
            step += 1
            unique_id = f"c{n}-{step}"
            allocated = await self._call(http, service, self.allocations, f"{DNIS}/allocate/new",
                                         headers=self.tenant.web, json={"id": unique_id, "timeoutSeconds": 300})
            if allocated is None or allocated.status_code != 200:
                await asyncio.sleep(0.05)  # a caller retries soon (Retry-After is advice)
                continue
            hold = Hold(service, unique_id, allocated.text, time.monotonic())
            self.holds.append(hold)
            await asyncio.sleep(rng.uniform(0, 0.05))
            hold.free_sent = time.monotonic()
            await self._call(http, service, self.frees, f"{DNIS}/allocate/free/{hold.phone}",
                             params={"uniqueId": unique_id}, headers=self.tenant.dnis_user)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=2 * CLIENTS)
        async with httpx.AsyncClient(timeout=HUNG_AFTER, limits=limits) as http:
            clients = [asyncio.create_task(self.client(http, n, stop)) for n in range(CLIENTS)]
            try:
                yield self
            finally:
                stop.set()
                await asyncio.gather(*clients)

    async def recovered(self, since: float) -> float:
        """When every service had granted an allocation after `since`."""
        deadline = time.monotonic() + RECOVERY_SECONDS
        while True:
            firsts = [min((h.granted for h in self.holds if h.service == s and h.granted > since), default=None)
                      for s in range(len(self.services))]
            if None not in firsts:
                return max(f for f in firsts if f is not None)
            assert time.monotonic() < deadline, "the service did not recover after the promotion"
            await asyncio.sleep(0.05)

    def longest_without_allocation(self, service: int) -> float:
        granted = sorted(h.granted for h in self.holds if h.service == service)
        return max(b - a for a, b in pairwise(granted))

    def held_twice(self) -> list[str]:
        """Phones granted to a second client before the first had sent its free."""
        twice = []
        by_phone: dict[str, list[Hold]] = {}
        for hold in sorted(self.holds, key=lambda h: h.granted):
            by_phone.setdefault(hold.phone, []).append(hold)
        for phone, holds in by_phone.items():
            for first, second in pairwise(holds):
                if first.free_sent is None or second.granted < first.free_sent:
                    twice.append(phone)
        return twice


@dataclass
class Outage:
    """What callers saw of one failover, and what the new primary holds afterwards."""

    case: str
    gap: float  # the longest time a service granted no allocation
    recovered_after_promotion: float
    codes: Counter[int | None]
    slowest: float
    acknowledged: int
    lost: int
    held_twice: int

    def line(self) -> str:
        codes = ", ".join(f"{code or 'no answer'}: {count}" for code, count in sorted(
            self.codes.items(), key=lambda item: item[0] or 0))
        return (f"{self.case}: a service granted no allocation for {self.gap:.2f} s, "
                f"back {self.recovered_after_promotion:.2f} s after the promotion; answers {codes}; "
                f"slowest {self.slowest:.2f} s; "
                f"{self.acknowledged} acknowledged, {self.lost} lost, {self.held_twice} held twice")


@dataclass
class Failover:
    """The cluster, the two services on its host list, their tenant, and a key both have cached."""

    cluster: Cluster
    services: list[ServiceProcess]
    tenant: Tenant
    key_id: str
    key_headers: dict[str, str]

    async def run(self, case: str, fault: Callable[[], None]) -> Outage:
        """Load, then `fault` (which returns once the primary is gone), then the promotion; load
        until both services have recovered, and a little more. Returns the figures, after
        checking what must hold."""
        load = Load(self.services, self.tenant)
        async with load.running():
            await asyncio.sleep(STEADY_SECONDS)
            faulted = time.monotonic()
            await asyncio.to_thread(fault)
            await asyncio.sleep(max(0.0, faulted + PROMOTE_AFTER - time.monotonic()))
            await asyncio.to_thread(self.cluster.standby.promote)
            promoted = time.monotonic()
            recovered = await load.recovered(since=promoted)
            await asyncio.sleep(STEADY_SECONDS)
        answers = load.allocations + load.frees
        db = await asyncpg.connect(self.cluster.standby.url)
        try:
            stored = {(r["unique_id"], r["phone_number"]) for r in await db.fetch(
                "SELECT unique_id, phone_number FROM phone_allocations")}
            violations = await invariant_violations(db)
        finally:
            await db.close()
        outage = Outage(
            case=case,
            gap=max(load.longest_without_allocation(service) for service in range(len(self.services))),
            recovered_after_promotion=recovered - promoted,
            codes=Counter(a.status for a in answers),
            slowest=max(a.seconds for a in answers),
            acknowledged=len(load.holds),
            lost=sum((h.unique_id, h.phone) not in stored for h in load.holds),
            held_twice=len(load.held_twice()) + sum("two holders" in v for v in violations),
        )
        print(outage.line())
        assert set(outage.codes) <= {200, 503}, outage.line()
        assert all(a.retry_after for a in answers if a.status == 503), "a 503 without Retry-After"
        assert (outage.lost, outage.held_twice, violations) == (0, 0, []), outage.line()
        assert 503 in outage.codes, "callers saw no outage: the test did not fail the primary over"
        await self.check_after()
        return outage

    async def check_after(self) -> None:
        """Readiness is back on both, the revocation of a key both had cached is seen by both at
        once, and the release job works on the new primary."""
        async with httpx.AsyncClient(timeout=HUNG_AFTER) as http:
            for service in self.services:
                assert await status_once_settled(http, f"{service.url}/health/ready", {}, 200) == 200
            revoked = await http.delete(f"{self.services[0].url}/admin/v1/tenants/{TENANT}/applications/{self.key_id}",
                                        headers=ADMIN)
            assert revoked.status_code == 204, revoked.text
            for service in self.services:
                assert await status_once_settled(
                    http, f"{service.url}{DNIS}/allocate/get/5500001", self.key_headers, 401) == 401
            expiring = await http.post(f"{self.services[1].url}{DNIS}/allocate/new", headers=self.tenant.web,
                                       json={"id": "expiring", "timeoutSeconds": 1})
            assert expiring.status_code == 200, expiring.text
        db = await asyncpg.connect(self.cluster.standby.url)
        try:
            deadline = time.monotonic() + RECOVERY_SECONDS
            while await db.fetchval("SELECT ended_at FROM phone_history WHERE unique_id = 'expiring'") is None:
                assert time.monotonic() < deadline, "the release job did not come back"
                await asyncio.sleep(0.2)
        finally:
            await db.close()
        for service in self.services:
            assert "Traceback" not in service.log()


async def prepare(cluster: Cluster) -> Tenant:
    conn = await asyncpg.connect(cluster.primary.url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(cluster.primary.url, min_size=1, max_size=2)
    try:
        tenant = await make_tenant(pool, TENANT)
        await add_raw_phones(pool, TENANT, PHONES)
    finally:
        await pool.close()
    return tenant


@pytest.fixture
async def failover(tmp_path: Path) -> AsyncIterator[Failover]:
    with primary_with_standby() as cluster:
        tenant = await prepare(cluster)
        with (ServiceProcess(cluster.url, tmp_path, **SERVICE_ENV) as one,
              ServiceProcess(cluster.url, tmp_path, **SERVICE_ENV) as two):
            async with httpx.AsyncClient(timeout=HUNG_AFTER) as http:
                created = await http.post(f"{one.url}/admin/v1/tenants/{TENANT}/applications",
                                          json={"kind": "dnis"}, headers=ADMIN)
                assert created.status_code == 201, created.text
                key = {"Tenant-Id": TENANT, "Application-Key": created.json()["applicationKey"]}
                for service in (one, two):  # now in both processes' credential caches
                    assert (await http.get(f"{service.url}{DNIS}/allocate/get/5500001", headers=key)).status_code == 200
            yield Failover(cluster, [one, two], tenant, created.json()["applicationId"], key)


async def test_crash_of_the_primary(failover: Failover) -> None:
    """The primary is stopped hard (pg_ctl stop -m immediate), the standby promoted."""
    await failover.run("crash", lambda: failover.cluster.primary.stop("immediate"))


async def test_planned_switchover(failover: Failover) -> None:
    """As Patroni switches over: the primary is stopped cleanly and started again as a standby,
    so that for a moment both servers are read-only, then the standby is promoted. First the
    primary is fenced read-only for a moment, as an operator draining writes would: the
    service's open connections meet a server that refuses writes."""
    primary, standby = failover.cluster.primary, failover.cluster.standby

    def switch_over() -> None:
        primary.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        primary.sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        primary.stop("fast")
        primary.follow(standby)
        primary.start()

    await failover.run("switchover", switch_over)
    logs = "".join(service.log() for service in failover.services)
    assert "database connection dropped: its server is read-only" in logs


async def test_hung_primary(failover: Failover) -> None:
    """The primary stops answering (SIGSTOP: hung, or cut off by a partition), its connections
    left open; the standby is promoted."""
    await failover.run("hung primary", failover.cluster.primary.hang)


def serve(url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DNIS_DATABASE_URL": url, "DNIS_DATA_DIR": str(data_dir)}
    return subprocess.run([CLI, "serve"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


async def test_start_up_during_a_failover_stops_with_one_line_then_starts_after_the_promotion(tmp_path) -> None:
    """With the primary hung and the standby not yet promoted, `serve` names both servers and
    why each was refused, in one line, exit status 2; once the standby is promoted it starts."""
    with primary_with_standby() as cluster:
        tenant = await prepare(cluster)
        cluster.primary.hang()
        started = time.monotonic()
        refused = await asyncio.to_thread(serve, cluster.url, tmp_path)
        print(f"start-up during the failover: exit {refused.returncode} after {time.monotonic() - started:.2f} s: "
              f"{refused.stderr.strip()}")
        lines = refused.stderr.strip().splitlines()
        assert (refused.returncode, len(lines)) == (2, 1), refused.stderr
        primary, standby = f"127.0.0.1:{cluster.primary.port}", f"127.0.0.1:{cluster.standby.port}"
        assert lines[0].startswith(f"dnis-service: cannot connect to the database at {primary},{standby}/dnis: ")
        assert f"{primary}: no answer within" in lines[0]
        assert f"{standby}: not a read-write server" in lines[0]
        await asyncio.to_thread(cluster.standby.promote)
        with ServiceProcess(cluster.url, tmp_path, **SERVICE_ENV) as service:
            async with httpx.AsyncClient(base_url=service.url, timeout=HUNG_AFTER) as http:
                allocated = await http.post(f"{DNIS}/allocate/new", headers=tenant.web, json={"id": "after"})
                assert allocated.status_code == 200, allocated.text
                assert (await http.get("/health/ready")).status_code == 200
