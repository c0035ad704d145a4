"""Credentials are cached per process, and a change anywhere is seen at once (or as soon as the
change's notification arrives, for a change made by another replica or by hand)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import pytest

from dnis_service.domain.credential_cache import LISTENER_NAME
from tests.conftest import (
    ADMIN_TOKEN,
    DNIS,
    NOTICE_SECONDS,
    Tenant,
    add_phones,
    serve_in_process,
    status_once_settled,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LISTENERS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"


async def new_dnis_key(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    response = await client.post(f"/admin/v1/tenants/{tenant.tenant_id}/applications", json={"kind": "dnis"},
                                 headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    return created["applicationId"], {"Tenant-Id": tenant.tenant_id, "Application-Key": created["applicationKey"]}


async def listener_pid(db) -> int:
    deadline = time.monotonic() + NOTICE_SECONDS
    while (pid := await db.fetchval(LISTENERS.replace("count(*)", "pid"),
                                    LISTENER_NAME)) is None:
        assert time.monotonic() < deadline, "the service opened no listening connection"
        await asyncio.sleep(0.02)
    return int(pid)


@pytest.fixture
async def phone(client: httpx.AsyncClient, tenant: Tenant) -> str:
    [number] = await add_phones(client, tenant, 1)
    return number


async def cache_listening(client: httpx.AsyncClient) -> None:
    """Wait until the service's credential cache may answer (readiness says so)."""
    deadline = time.monotonic() + NOTICE_SECONDS
    while (await client.get("/health/ready")).json().get("credentialCache") != "listening":
        assert time.monotonic() < deadline, "the credential cache never started listening"
        await asyncio.sleep(0.02)


async def test_cached_credentials_answer_without_the_database(client, db, tenant: Tenant, phone: str) -> None:
    await cache_listening(client)
    assert (await client.get(f"{DNIS}", headers=tenant.dnis_user)).status_code == 200
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).status_code == 200
    # Hide the keys from the authentication query (DDL notifies nobody): only the cache can answer.
    await db.execute("ALTER TABLE applications RENAME TO applications_hidden")
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).status_code == 200
    assert (await client.get(f"{DNIS}", headers=tenant.dnis_user)).status_code == 200
    await db.execute("ALTER TABLE applications_hidden RENAME TO applications")


async def test_key_revoked_through_the_operator_api_is_refused_at_once(client, db, tenant: Tenant,
                                                                       phone: str) -> None:
    await listener_pid(db)
    application_id, headers = await new_dnis_key(client, tenant)
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=headers)).status_code == 200
    revoked = await client.delete(f"/admin/v1/tenants/{tenant.tenant_id}/applications/{application_id}",
                                  headers=ADMIN)
    assert revoked.status_code == 204
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=headers)).status_code == 401


async def test_user_deleted_through_the_operator_api_is_refused_at_once(client, db, tenant: Tenant) -> None:
    await listener_pid(db)
    assert (await client.get(f"{DNIS}", headers=tenant.dnis_user)).status_code == 200
    deleted = await client.delete(f"/admin/v1/tenants/{tenant.tenant_id}/users/{tenant.user}", headers=ADMIN)
    assert deleted.status_code == 204
    assert (await client.get(f"{DNIS}", headers=tenant.dnis_user)).status_code == 401


async def test_key_revoked_elsewhere_is_refused_once_the_notification_arrives(client, db, tenant: Tenant,
                                                                            phone: str) -> None:
    await listener_pid(db)
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).status_code == 200
    await db.execute("DELETE FROM applications WHERE kind = 'dnis'")  # as another replica or psql would
    assert await status_once_settled(client, f"{DNIS}/allocate/get/{phone}", tenant.dnis, 401) == 401


async def test_password_changed_elsewhere_is_refused_once_the_notification_arrives(client, db,
                                                                                  tenant: Tenant) -> None:
    await listener_pid(db)
    assert (await client.get(f"{DNIS}", headers=tenant.dnis_user)).status_code == 200
    await db.execute("UPDATE users SET password_hash = 'scrypt$16384$8$1$AAAA$AAAA'")
    assert await status_once_settled(client, f"{DNIS}", tenant.dnis_user, 401) == 401


async def test_while_the_listener_is_down_the_cache_does_not_answer(client, db, tenant: Tenant,
                                                                   phone: str) -> None:
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).status_code == 200
    old_listener = await listener_pid(db)
    await db.execute("SELECT pg_terminate_backend($1)", old_listener)
    # No notification can reach this replica now; the revocation must be seen all the same.
    await db.execute("DELETE FROM applications WHERE kind = 'dnis'")
    assert await status_once_settled(client, f"{DNIS}/allocate/get/{phone}", tenant.dnis, 401) == 401
    # And the service listens again by itself.
    deadline = time.monotonic() + NOTICE_SECONDS
    while await listener_pid(db) == old_listener:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_with_the_cache_off_nothing_listens(settings, database_url, db) -> None:
    async with serve_in_process(replace(settings, auth_cache_seconds=0), database_url) as client:
        assert (await client.get("/health/ready")).json()["credentialCache"] == "off"
        assert await db.fetchval(LISTENERS, LISTENER_NAME) == 0
