"""DTMF codes: allocate, idempotency, expiry, free."""

from __future__ import annotations

from tests.conftest import DNIS, Tenant, set_policy

DTMF = f"{DNIS}/allocate/dtmf"


async def code_for(client, tenant: Tenant, uid: str, **body) -> str:
    response = await client.post(DTMF, json={"id": uid, **body}, headers=tenant.web)
    assert response.status_code == 200, response.text
    return response.text


async def test_code_has_the_tenants_default_six_digits(client, tenant: Tenant) -> None:
    code = await code_for(client, tenant, "u1")
    assert code.isdigit() and len(code) == 6


async def test_code_length_can_be_asked_for(client, tenant: Tenant) -> None:
    assert len(await code_for(client, tenant, "u1", digits=4)) == 4


async def test_tenant_setting_changes_the_default_length(client, db, tenant: Tenant) -> None:
    await set_policy(client, tenant.tenant_id, dtmfDigits=8)
    assert len(await code_for(client, tenant, "u1")) == 8


async def test_code_allocation_is_idempotent(client, tenant: Tenant) -> None:
    assert await code_for(client, tenant, "u1") == await code_for(client, tenant, "u1")


async def test_live_codes_are_unique_in_the_scope(client, tenant: Tenant) -> None:
    codes = [await code_for(client, tenant, f"u{n}", digits=4) for n in range(200)]
    assert len(set(codes)) == 200


async def test_expired_code_is_replaced_by_a_new_allocation(client, db, tenant: Tenant) -> None:
    await code_for(client, tenant, "u1")
    await db.execute("UPDATE allocations SET allocated_at = now() - interval '1 hour', expires_at = now()")
    await code_for(client, tenant, "u1")
    reasons = await db.fetch("SELECT end_reason FROM allocations ORDER BY allocation_id")
    assert [r["end_reason"] for r in reasons] == ["expired", None]


async def test_free_code_ends_it(client, db, tenant: Tenant) -> None:
    code = await code_for(client, tenant, "u1")
    response = await client.post(f"{DNIS}/allocate/free/dtmf/{code}", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (200, "")
    assert await db.fetchval("SELECT end_reason FROM allocations") == "freed"


async def test_free_of_a_code_never_handed_out_is_404(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/allocate/free/dtmf/123456", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (404, "DTMF code 123456 was not found")


async def test_free_of_a_malformed_code_is_400(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/allocate/free/dtmf/12ab", headers=tenant.dnis_user)
    assert response.status_code == 400


async def test_free_code_guarded_by_another_interaction_is_409(client, tenant: Tenant) -> None:
    code = await code_for(client, tenant, "u1")
    response = await client.post(f"{DNIS}/allocate/free/dtmf/{code}?uniqueId=u2", headers=tenant.dnis_user)
    assert response.status_code == 409
