"""No application key or password ever appears in a log line; the KDF stays off the hot path."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from dnis_service.domain import passwords
from dnis_service.domain.passwords import VerificationCache, hash_password
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


@pytest.fixture
def scrypt_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    return calls


def test_a_verified_password_is_not_hashed_again(scrypt_calls: list[int]) -> None:
    stored, cache = hash_password("pa55word!"), VerificationCache()
    scrypt_calls.clear()
    assert cache.verify("pa55word!", stored) and cache.verify("pa55word!", stored)
    assert len(scrypt_calls) == 1


def test_a_wrong_password_is_never_cached(scrypt_calls: list[int]) -> None:
    stored, cache = hash_password("pa55word!"), VerificationCache()
    scrypt_calls.clear()
    assert not cache.verify("wrong", stored) and not cache.verify("wrong", stored)
    assert len(scrypt_calls) == 2


def test_a_changed_password_is_verified_afresh() -> None:
    cache = VerificationCache()
    assert cache.verify("old-pass1", hash_password("old-pass1"))
    assert not cache.verify("old-pass1", hash_password("new-pass1"))


def test_the_cache_keys_on_a_digest_not_the_password() -> None:
    cache = VerificationCache()
    cache.verify("pa55word!", hash_password("pa55word!"))
    held = repr(cache._entries)
    assert "pa55word!" not in held and base64.b64encode(b"pa55word!").decode() not in held
