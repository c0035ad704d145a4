"""Fixtures: a real PostgreSQL (embedded, or DNIS_TEST_DATABASE_URL), one migrated template
database per session, and a fresh copy of it for every test."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from dnis_service.app import create_app
from dnis_service.config import Settings
from dnis_service.db.migrations import migrate
from dnis_service.db.pool import create_pool
from dnis_service.domain import tenants
from dnis_service.logs import log_handler
from tests.invariants import invariant_violations
from tests.service_process import ServiceProcess

TEMPLATE = f"dnis_template_{os.getpid()}"
_numbers = itertools.count(1)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def drop_database(server_url: str, url: str) -> None:
    """Make a database unreachable under a running service: drop it, cutting its connections."""
    await _admin(server_url, f'DROP DATABASE "{database_name(url)}" WITH (FORCE)')


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The PostgreSQL server the tests use (any database name in it)."""
    given = os.environ.get("DNIS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    from dnis_service.db.embedded import start_embedded, stop_embedded

    with tempfile.TemporaryDirectory(prefix="dnis-test-pg-") as data_dir:
        yield start_embedded(Path(data_dir))
        stop_embedded(Path(data_dir))


@pytest.fixture
def pg_scratch() -> Iterator[Path]:
    """A scratch directory for an embedded PostgreSQL's data. Not under tmp_path: run as root, the
    server runs as another user, who must traverse the directory's parents, and pytest makes its
    temporary root private again whenever another test session starts."""
    with tempfile.TemporaryDirectory(prefix="dnis-test-pg-") as scratch:
        yield Path(scratch)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    async def build() -> None:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"')
        conn = await asyncpg.connect(with_database(server_url, TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield with_database(server_url, TEMPLATE)
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))


@pytest.fixture
async def database_url(server_url: str, template_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test alone; its invariants are checked afterwards."""
    name = f"dnis_test_{os.getpid()}_{next(_numbers)}"
    await _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    url = with_database(server_url, name)
    yield url
    try:
        violations = await _violations_in(url)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert not violations, "\n".join(violations)


async def _violations_in(url: str) -> list[str]:
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return []  # the test dropped its database
    try:
        return await invariant_violations(conn)
    finally:
        await conn.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


ADMIN_TOKEN = "test-admin-token"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Jobs off: tests prove that expiry is exact with no release job; job tests turn them on."""
    return replace(
        Settings.from_env({}), admin_token=ADMIN_TOKEN, data_dir=tmp_path, pool_min_size=1, pool_max_size=20,
        run_jobs=False,
    )


@asynccontextmanager
async def serve_in_process(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan, called over ASGI on this event loop.

    Unlike litestar's AsyncTestClient (which runs each request to completion in a portal
    thread), requests sent concurrently here really run concurrently.
    """
    app = create_app(settings, database_url)
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        # Entered and left in one task, as anyio's task groups inside the lifespan require.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60
        ) as http:
            yield http
    finally:
        stop.set()
        await task


@pytest.fixture
async def client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on this test's database."""
    async with serve_in_process(settings, database_url) as http:
        yield http


class JsonLog:
    """What the service logs in its JSON format, read back one object per line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]

    def by(self, logger: str, **fields: Any) -> list[dict[str, Any]]:
        return [line for line in self.lines()
                if line["logger"] == logger and all(line.get(k) == v for k, v in fields.items())]


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """Every line logged during the test, also written as the service writes it with DNIS_LOG_FORMAT=json."""
    log, root = JsonLog(), logging.getLogger()
    level, handler = root.level, log_handler("json", log.stream)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield log
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def json_client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app configured for JSON logs (and so with its access log)."""
    async with serve_in_process(replace(settings, log_format="json"), database_url) as http:
        yield http


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    keys: dict[str, str]
    user: str = "operator"
    password: str = "correct horse battery"

    def headers(self, kind: str, user: bool = False, **extra: str) -> dict[str, str]:
        headers = {"Tenant-Id": self.tenant_id, "Application-Key": self.keys[kind], **extra}
        if user:
            headers |= {"User-Id": b64(self.user), "User-Password": b64(self.password)}
        return headers

    @property
    def web(self) -> dict[str, str]:
        return self.headers("web")

    @property
    def dnis(self) -> dict[str, str]:
        return self.headers("dnis")

    @property
    def dnis_user(self) -> dict[str, str]:
        return self.headers("dnis", user=True)


async def make_tenant(db: asyncpg.Pool, tenant_id: str, environments: list[str] | None = None) -> Tenant:
    await tenants.create_tenant(db, tenant_id, None, environments or [])
    keys = {kind: (await tenants.create_application(db, tenant_id, kind)).application_key
            for kind in ("web", "dnis", "public")}
    tenant = Tenant(tenant_id, keys)
    await tenants.create_user(db, tenant_id, tenant.user, tenant.password)
    return tenant


@pytest.fixture
async def tenant(db: asyncpg.Pool) -> Tenant:
    return await make_tenant(db, "12345678")


@pytest.fixture
async def other_tenant(db: asyncpg.Pool) -> Tenant:
    return await make_tenant(db, "87654321")


DNIS = "/interact/version/2/dnis"


async def add_phones(client: httpx.AsyncClient, tenant: Tenant, count: int, group: str | None = None,
                     start: int = 1) -> list[str]:
    """Create `count` phones 1555000NNNN (dnId NNNN) through the API; returns their numbers."""
    phones = [
        {"phoneNumber": f"1555000{n:04d}", "dnId": f"{n:04d}", **({"groupName": group} if group else {})}
        for n in range(start, start + count)
    ]
    response = await client.post(f"{DNIS}/bulk", json=phones, headers=tenant.dnis_user)
    assert response.status_code == 200, response.text
    return [p["phoneNumber"] for p in phones]


async def add_raw_phones(db: asyncpg.Pool, tenant_id: str, count: int) -> None:
    """`count` phones 5500001… in the tenant's default environment, straight into the table."""
    await db.execute(
        "INSERT INTO phones (scope_id, phone_number) SELECT s.scope_id, (5500000 + n)::text "
        "FROM scopes s, generate_series(1, $2) n WHERE s.tenant_id = $1",
        tenant_id, count,
    )


# Far less than the credential cache's 30 s: a change that is only seen after this long was never seen.
NOTICE_SECONDS = 5.0


async def status_once_settled(client: httpx.AsyncClient, path: str, headers: dict[str, str], wanted: int) -> int:
    """The answer's status, asked again until it is `wanted` or NOTICE_SECONDS have passed."""
    deadline = time.monotonic() + NOTICE_SECONDS
    while True:
        status = (await client.get(path, headers=headers)).status_code
        if status == wanted or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


async def expire_phone(
    db: asyncpg.Pool, phone_number: str, seconds_ago: int = 0, held_seconds: int | None = None
) -> None:
    """Move a live allocation's expiry to `seconds_ago` before now, as if its timeout had run out;
    with held_seconds, also move its start back, so that it was held that long.

    One statement: it waits for the phone's state row like the service's own statements do.
    """
    await db.execute(
        # clock_timestamp(): the allocation may have begun after this statement did.
        """UPDATE phone_states s
           SET allocated_at = coalesce(clock_timestamp() - make_interval(secs => $2::float8 + $3::float8),
                                       s.allocated_at),
               expires_at = clock_timestamp() - make_interval(secs => $2)
           FROM phones p
           WHERE p.phone_id = s.phone_id AND p.phone_number = $1 AND s.held""",
        phone_number, float(seconds_ago), None if held_seconds is None else float(held_seconds),
    )


async def set_policy(client: httpx.AsyncClient, tenant_id: str, **changes: int | None) -> None:
    """Change tenant settings (defaultTimeoutSeconds, quarantineSeconds, ...) through the operator API."""
    response = await client.patch(f"/admin/v1/tenants/{tenant_id}/settings", json=changes,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text


SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AGENT_SOAP = "/interact/version/2/agent/soap"
DNIS_SOAP = "/interact/version/2/dnis/soap"


@dataclass(frozen=True)
class SoapAnswer:
    """A SOAP response, read the way a client would: the fault's code and text, or the
    text of one element of the answer."""

    status: int
    content_type: str
    xml: Any

    @property
    def fault(self) -> tuple[tuple[str, str] | str, str] | None:
        """(faultcode as (namespace, name) when qualified, else as written; faultstring)."""
        found = self.xml.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
        if found is None:
            return None
        code_element = found.find("faultcode")
        code = code_element.text
        if ":" in code:
            prefix, name = code.split(":", 1)
            code = (code_element.nsmap[prefix], name)
        return code, found.find("faultstring").text

    def text_of(self, namespace: str, response: str, element: str) -> str | None:
        found = self.xml.find(f"{{{SOAP_ENV}}}Body/{{{namespace}}}{response}/{{{namespace}}}{element}")
        assert found is not None, f"no {response}/{element} in the answer"
        text: str | None = found.text
        return text


async def post_soap(client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]) -> SoapAnswer:
    from lxml import etree

    response = await client.post(path, content=body, headers=headers | {"Content-Type": "text/xml; charset=utf-8"})
    xml = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    return SoapAnswer(response.status_code, response.headers["content-type"], xml)


async def _database_with_tenant(server_url: str, name: str) -> Tenant:
    """A database copied from the template, with tenant 12345678 and 50 phones 155501…155550."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                 f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    pool = await create_pool(with_database(server_url, name), min_size=1, max_size=2)
    try:
        tenant = await make_tenant(pool, "12345678")
        await pool.execute("INSERT INTO phones (scope_id, phone_number, dn_id) SELECT scope_id, (155500 + n)::text, "
                           "n::text FROM scopes, generate_series(1, 50) n WHERE tenant_id = '12345678'")
    finally:
        await pool.close()
    return tenant


@contextmanager
def service_on_own_database(server_url: str, data_dir: Path, **env: str) -> Iterator[tuple[ServiceProcess, Tenant]]:
    """A service process (for module-scoped fixtures) on a database of its own."""
    name = f"dnis_process_{os.getpid()}_{next(_numbers)}"
    tenant = asyncio.run(_database_with_tenant(server_url, name))
    try:
        with ServiceProcess(with_database(server_url, name), data_dir, **env) as process:
            yield process, tenant
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
