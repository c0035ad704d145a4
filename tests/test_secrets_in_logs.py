"""No secret (application key, password, admin token, SMS provider secret, database password) ever
appears in a log line, text or JSON, nor in the memory of verified passwords."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import httpx

from dnis_service.config import Settings
from dnis_service.domain.passwords import VerificationCache
from tests.conftest import ADMIN_TOKEN, DNIS, JsonLog, Tenant, add_phones, b64, drop_database, serve_in_process


async def exercise(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    """Requests that carry every kind of secret, right and wrong; returns the secrets."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    wrong = tenant.dnis | {"User-Id": b64(tenant.user), "User-Password": b64("guess-" + tenant.password)}
    await client.get(DNIS, headers=wrong)
    await client.get(DNIS, headers={"Tenant-Id": tenant.tenant_id, "Application-Key": "stolen-key-123"})
    await client.get(f"/admin/v1/tenants/{tenant.tenant_id}/settings",
                     headers={"Authorization": "Bearer wrong-admin-token-456"})
    created = await client.post(f"/admin/v1/tenants/{tenant.tenant_id}/applications", json={"kind": "web"},
                                headers=admin)
    provider = {"url": "https://sms.example.invalid/send", "account": "AC1", "secret": "sms-provider-secret-789"}
    changed = await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings", json={"smsProvider": provider},
                                 headers=admin)
    assert changed.status_code == 200, changed.text
    return [*tenant.keys.values(), created.json()["applicationKey"], tenant.password, b64(tenant.password),
            "stolen-key-123", "wrong-admin-token-456", ADMIN_TOKEN, provider["secret"]]


async def test_keys_and_passwords_never_reach_the_logs(client, tenant: Tenant, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = await exercise(client, tenant)
    logged = caplog.text
    assert "allocated tenant=" in logged  # the events are logged ...
    for secret in secrets:
        assert secret not in logged  # ... their secrets are not


async def test_no_secret_reaches_the_json_logs_nor_the_database_password(
    settings: Settings, database_url: str, server_url: str, tenant: Tenant, json_log: JsonLog
) -> None:
    with_password = urlunsplit(urlsplit(database_url)._replace(netloc="postgres:db-password-321@"))
    async with serve_in_process(replace(settings, log_format="json"), with_password) as client:
        secrets = await exercise(client, tenant)
        await drop_database(server_url, database_url)
        assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 503
    logged = json_log.text()
    assert json_log.by("dnis_service.access", route=DNIS, status=503)  # the requests are logged ...
    assert json_log.by("dnis_service.domain.allocations", tenant=tenant.tenant_id)
    for secret in [*secrets, "db-password-321"]:
        assert secret not in logged  # ... their secrets are not


def test_the_cache_keys_on_a_digest_not_the_password() -> None:
    cache = VerificationCache()
    cache.remember("pa55word!", "scrypt$16384$8$1$c2FsdA==$ZGlnZXN0")
    held = repr(cache._entries)
    assert "pa55word!" not in held and base64.b64encode(b"pa55word!").decode() not in held
