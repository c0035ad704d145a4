"""No application key or password ever appears in a log line, nor in the memory of verified ones."""

from __future__ import annotations

import base64
import logging

from dnis_service.domain.passwords import VerificationCache
from tests.conftest import ADMIN_TOKEN, DNIS, Tenant, add_phones, b64


async def test_keys_and_passwords_never_reach_the_logs(client, tenant: Tenant, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    wrong = tenant.dnis | {"User-Id": b64(tenant.user), "User-Password": b64("guess-" + tenant.password)}
    await client.get(DNIS, headers=wrong)
    await client.get(DNIS, headers={"Tenant-Id": tenant.tenant_id, "Application-Key": "stolen-key-123"})
    created = await client.post(f"/admin/v1/tenants/{tenant.tenant_id}/applications", json={"kind": "web"},
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    secrets = [*tenant.keys.values(), created.json()["applicationKey"], tenant.password, b64(tenant.password),
               "stolen-key-123", ADMIN_TOKEN]
    logged = caplog.text
    assert "allocated tenant=" in logged  # the events are logged ...
    for secret in secrets:
        assert secret not in logged  # ... their secrets are not


def test_the_cache_keys_on_a_digest_not_the_password() -> None:
    cache = VerificationCache()
    cache.remember("pa55word!", "scrypt$16384$8$1$c2FsdA==$ZGlnZXN0")
    held = repr(cache._entries)
    assert "pa55word!" not in held and base64.b64encode(b"pa55word!").decode() not in held
