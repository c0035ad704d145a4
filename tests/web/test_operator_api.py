"""The operator API, and how keys and passwords are kept."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from tests.conftest import ADMIN_TOKEN, DNIS, Tenant, b64, serve_in_process

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TENANTS = "/admin/v1/tenants"


async def test_operator_api_is_off_without_a_token(settings, database_url) -> None:
    async with serve_in_process(replace(settings, admin_token=None), database_url) as client:
        response = await client.post(TENANTS, json={"tenantId": "t1"}, headers=ADMIN)
    assert response.status_code == 404


async def test_wrong_token_is_401(client) -> None:
    response = await client.post(TENANTS, json={"tenantId": "t1"}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert "message" in response.json()


async def test_create_tenant_is_201_then_409(client) -> None:
    first = await client.post(TENANTS, json={"tenantId": "t1", "environments": ["Prod"]}, headers=ADMIN)
    second = await client.post(TENANTS, json={"tenantId": "t1"}, headers=ADMIN)
    assert (first.status_code, second.status_code) == (201, 409)


async def test_created_key_works_once_shown_and_is_stored_as_a_digest(client, db) -> None:
    await client.post(TENANTS, json={"tenantId": "t1"}, headers=ADMIN)
    created = await client.post(f"{TENANTS}/t1/applications", json={"kind": "web"}, headers=ADMIN)
    assert created.status_code == 201
    body = created.json()
    assert (body["kind"], body["environment"]) == ("web", "default")
    key = body["applicationKey"]
    stored = await db.fetchval("SELECT key_digest FROM applications")
    assert stored == hashlib.sha256(key.encode()).digest()
    response = await client.post(f"{DNIS}/allocate/new", json={"id": "u1"},
                                 headers={"Tenant-Id": "t1", "Application-Key": key})
    assert response.status_code == 403  # authenticated; the pool is empty


async def test_revoked_key_is_refused_at_once(client, tenant: Tenant, db) -> None:
    application_id = await db.fetchval("SELECT application_id::text FROM applications WHERE kind = 'dnis'")
    response = await client.delete(f"{TENANTS}/{tenant.tenant_id}/applications/{application_id}", headers=ADMIN)
    assert response.status_code == 204
    assert (await client.get(f"{DNIS}/allocate/get/1", headers=tenant.dnis)).status_code == 401


async def test_users_are_stored_with_scrypt_and_can_be_deleted(client, tenant: Tenant, db) -> None:
    response = await client.post(f"{TENANTS}/{tenant.tenant_id}/users", json={"userId": "ops", "password": "pa55word!"},
                                 headers=ADMIN)
    assert response.status_code == 201
    stored = await db.fetchval("SELECT password_hash FROM users WHERE user_id = 'ops'")
    assert stored.startswith("scrypt$") and "pa55word!" not in stored
    headers = tenant.dnis | {"User-Id": b64("ops"), "User-Password": b64("pa55word!")}
    assert (await client.get(DNIS, headers=headers)).status_code == 200
    assert (await client.delete(f"{TENANTS}/{tenant.tenant_id}/users/ops", headers=ADMIN)).status_code == 204
    assert (await client.get(DNIS, headers=headers)).status_code == 401


async def test_settings_round_trip_and_hide_the_secret(client, tenant: Tenant) -> None:
    changes = {"defaultTimeoutSeconds": 120, "quarantineSeconds": 30, "dtmfDigits": 4,
               "smsProvider": {"url": "https://sms.example/api", "account": "AC1", "secret": "s3cret"}}
    response = await client.patch(f"{TENANTS}/{tenant.tenant_id}/settings", json=changes, headers=ADMIN)
    assert response.status_code == 200
    body = (await client.get(f"{TENANTS}/{tenant.tenant_id}/settings", headers=ADMIN)).json()
    assert body == {"defaultTimeoutSeconds": 120, "maxTimeoutSeconds": None, "quarantineSeconds": 30,
                    "dtmfDigits": 4, "smsProvider": {"url": "https://sms.example/api", "account": "AC1"},
                    "targetBlocking": 0.001}


async def test_bad_setting_is_400_naming_the_field(client, tenant: Tenant) -> None:
    response = await client.patch(f"{TENANTS}/{tenant.tenant_id}/settings", json={"dtmfDigits": 12}, headers=ADMIN)
    assert response.status_code == 400
    assert "dtmfDigits" in response.json()["message"]


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", TENANTS, b'{"tenantId": 5}', "tenantId: Expected `str`, got `int`"),
    ("POST", TENANTS, b"[]", "body: Expected `object`, got `array`"),
    ("POST", f"{TENANTS}/12345678/users", b'{"userId": "u"}', "body: Object missing required field `password`"),
    ("PATCH", f"{TENANTS}/12345678/settings", b'{"dtmfDigits": ', "body: Input data was truncated"),
    ("PATCH", f"{TENANTS}/12345678/settings", b'{"dtmfDigits": 5.0}', "dtmfDigits: must be an integer from 4 to 8"),
])
async def test_a_body_of_the_wrong_shape_is_400_in_json(client, tenant: Tenant, method, path, body, message) -> None:
    response = await client.request(method, path, content=body, headers=ADMIN | {"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"message": message})


async def test_pool_stats_count_states_and_the_last_hour(client, tenant: Tenant) -> None:
    from tests.conftest import add_phones

    phones = await add_phones(client, tenant, 3, group="sales")
    await client.put(f"{DNIS}/{phones[2]}", json={"enabled": False}, headers=tenant.dnis_user)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u2"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phones[0]}", headers=tenant.dnis_user)
    body = (await client.get(f"{TENANTS}/{tenant.tenant_id}/pool", headers=ADMIN)).json()
    [pool] = body["pools"]
    assert pool == {"environment": "default", "group": "sales", "free": 1, "allocated": 1, "disabled": 1,
                    "allocationsLastHour": 2, "releasesLastHour": 1, "peakConcurrentAllocations": 2}
