"""The 401 shape, key kinds per endpoint, user credentials, environments, tenants."""

from __future__ import annotations

import pytest

from tests.conftest import DNIS, Tenant, add_phones, b64, make_tenant

# (method, path, key kind, user credentials needed) for every numbers and allocations endpoint.
ROUTES = [
    ("POST", f"{DNIS}", "dnis", True),
    ("POST", f"{DNIS}/bulk", "dnis", True),
    ("GET", f"{DNIS}", "dnis", True),
    ("GET", f"{DNIS}/15550000001", "dnis", True),
    ("PUT", f"{DNIS}/15550000001", "dnis", True),
    ("DELETE", f"{DNIS}/15550000001", "dnis", True),
    ("GET", f"{DNIS}/15550000001/history", "dnis", True),
    ("POST", f"{DNIS}/allocate/new", "web", False),
    ("POST", f"{DNIS}/allocate/dtmf", "web", False),
    ("GET", f"{DNIS}/allocate/get/15550000001", "dnis", False),
    ("POST", f"{DNIS}/allocate/free/15550000001", "dnis", True),
    ("POST", f"{DNIS}/allocate/free/dtmf/123456", "dnis", True),
    ("POST", f"{DNIS}/allocate/extend/15550000001", "web", False),
]


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.headers["Unauthenticated-Reason"]
    body = response.json()
    assert body["code"] == "0x7000000"
    assert body["message"] == "Request is unauthorized, missing or wrong credentials"
    assert body["moreInfoUrl"]


@pytest.mark.parametrize(("method", "path", "kind", "user"), ROUTES)
async def test_every_endpoint_refuses_a_key_of_another_kind(client, tenant: Tenant, method, path, kind, user) -> None:
    for wrong in {"web", "dnis", "public"} - {kind}:
        response = await client.request(method, path, headers=tenant.headers(wrong, user=True), json={})
        assert_unauthorized(response)


@pytest.mark.parametrize(("method", "path", "kind", "user"), ROUTES)
async def test_every_endpoint_refuses_missing_tenant_and_key(client, method, path, kind, user) -> None:
    assert_unauthorized(await client.request(method, path, json={}))


@pytest.mark.parametrize(("method", "path", "kind", "user"), [r for r in ROUTES if r[3]])
async def test_user_credentials_are_required_where_documented(client, tenant: Tenant, method, path, kind, user) -> None:
    assert_unauthorized(await client.request(method, path, headers=tenant.headers(kind), json={}))


async def test_wrong_password_is_401(client, tenant: Tenant) -> None:
    headers = tenant.headers("dnis") | {"User-Id": b64(tenant.user), "User-Password": b64("wrong")}
    assert_unauthorized(await client.get(DNIS, headers=headers))


async def test_unknown_user_is_401(client, tenant: Tenant) -> None:
    headers = tenant.headers("dnis") | {"User-Id": b64("nobody"), "User-Password": b64(tenant.password)}
    assert_unauthorized(await client.get(DNIS, headers=headers))


async def test_user_credentials_must_be_base64(client, tenant: Tenant) -> None:
    headers = tenant.headers("dnis") | {"User-Id": "not base64!", "User-Password": b64(tenant.password)}
    response = await client.get(DNIS, headers=headers)
    assert_unauthorized(response)
    assert "Base64" in response.headers["Unauthenticated-Reason"]


async def test_unknown_application_key_is_401(client, tenant: Tenant) -> None:
    headers = tenant.web | {"Application-Key": "x" * 43}
    assert_unauthorized(await client.post(f"{DNIS}/allocate/new", json={"id": "a"}, headers=headers))


async def test_key_used_with_another_tenant_id_is_401(client, tenant: Tenant, other_tenant: Tenant) -> None:
    headers = tenant.web | {"Tenant-Id": other_tenant.tenant_id}
    assert_unauthorized(await client.post(f"{DNIS}/allocate/new", json={"id": "a"}, headers=headers))


async def test_get_allocation_needs_no_user_credentials(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    response = await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)
    assert (response.status_code, response.text) == (200, "")


async def test_environment_header_must_match_the_keys_environment(client, db) -> None:
    tenant = await make_tenant(db, "multi", environments=["Prod"])
    from dnis_service.domain import tenants

    prod_key = (await tenants.create_application(db, "multi", "dnis", None, "Prod")).application_key
    prod = {"Tenant-Id": "multi", "Application-Key": prod_key}
    assert (await client.get(f"{DNIS}/allocate/get/1", headers=prod | {"Environment-Name": "Prod"})).status_code == 404
    assert_unauthorized(await client.get(f"{DNIS}/allocate/get/1", headers=prod))
    default_key_in_prod = tenant.dnis | {"Environment-Name": "Prod"}
    assert_unauthorized(await client.get(f"{DNIS}/allocate/get/1", headers=default_key_in_prod))


async def test_environments_are_separate_pools(client, db) -> None:
    tenant = await make_tenant(db, "multi", environments=["Prod"])
    from dnis_service.domain import tenants

    prod_web = (await tenants.create_application(db, "multi", "web", None, "Prod")).application_key
    await add_phones(client, tenant, 1)  # in the default environment
    headers = {"Tenant-Id": "multi", "Application-Key": prod_web, "Environment-Name": "Prod"}
    response = await client.post(f"{DNIS}/allocate/new", json={"id": "a"}, headers=headers)
    assert response.status_code == 403


async def test_another_tenants_number_is_not_found_and_untouched(client, tenant: Tenant, other_tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "mine"}, headers=tenant.web)
    for method, path in [
        ("GET", f"{DNIS}/allocate/get/{phone}"),
        ("POST", f"{DNIS}/allocate/free/{phone}"),
        ("GET", f"{DNIS}/{phone}"),
        ("PUT", f"{DNIS}/{phone}"),
        ("DELETE", f"{DNIS}/{phone}?force=true"),
    ]:
        response = await client.request(method, path, headers=other_tenant.dnis_user, json={"enabled": False})
        assert (response.status_code, response.text) == (404, f"Phone number {phone} was not found"), path
    extend = await client.post(f"{DNIS}/allocate/extend/{phone}", json={"id": "mine"}, headers=other_tenant.web)
    assert extend.status_code == 404
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == "mine"
    assert (await client.get(f"{DNIS}/{phone}", headers=tenant.dnis_user)).json()["enabled"] is True


async def test_revoked_key_is_refused_at_once(client, db, tenant: Tenant) -> None:
    await db.execute("DELETE FROM applications")
    assert_unauthorized(await client.get(f"{DNIS}/allocate/get/1", headers=tenant.dnis))
