"""Allocate, get, free, extend, and the allocation rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import DNIS, Tenant, add_phones, expire_phone, set_policy

ALLOCATE = f"{DNIS}/allocate/new"
EXHAUSTED = "Currently there are no available phone numbers"


async def allocate(client, tenant: Tenant, uid: str, **body):
    return await client.post(ALLOCATE, json={"id": uid, **body}, headers=tenant.web)


async def allocate_json(client, tenant: Tenant, uid: str, **body) -> dict:
    headers = tenant.web | {"Accept": "application/json"}
    response = await client.post(ALLOCATE, json={"id": uid, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def holder(client, tenant: Tenant, phone: str) -> str:
    response = await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)
    assert response.status_code == 200
    return response.text


def seconds_held(allocation: dict) -> float:
    expires = datetime.fromisoformat(allocation["expiresAt"])
    return (expires - datetime.fromisoformat(allocation["allocatedAt"])).total_seconds()


async def test_allocate_answers_the_number_as_plain_text(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    response = await allocate(client, tenant, "Unique Id 3")
    assert (response.status_code, response.text) == (200, phone)
    assert response.headers["content-type"].startswith("text/plain")


async def test_allocate_answers_json_when_asked(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1, group="sales")
    body = await allocate_json(client, tenant, "u1")
    assert body["phoneNumber"] == phone
    assert body["dnId"] == "0001"
    assert body["uniqueId"] == "u1"
    assert body["group"] == "sales"
    assert seconds_held(body) == 300


async def test_allocating_again_returns_the_same_phone_and_expiry(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 3)
    first = await allocate_json(client, tenant, "u1")
    second = await allocate_json(client, tenant, "u1", timeoutSeconds=900)
    assert second == first


async def test_exhausted_pool_is_403_with_retry_after(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    response = await allocate(client, tenant, "u2")
    assert (response.status_code, response.text) == (403, EXHAUSTED)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("attributes", [{}, {"historySearchId": "h2"}], ids=["bare", "with attributes"])
async def test_refused_allocation_records_no_interaction_only_the_refusal(
    client, db, tenant: Tenant, attributes: dict[str, str]
) -> None:
    await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    assert (await allocate(client, tenant, "u2", **attributes)).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM interactions WHERE unique_id = 'u2'") == 0
    assert await db.fetchval("SELECT sum(refusals) FROM pool_traffic_hours") == 1


async def test_group_restricts_the_choice(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2, group="sales")
    [support] = await add_phones(client, tenant, 1, group="support", start=10)
    assert (await allocate(client, tenant, "u1", group="support")).text == support
    assert (await allocate(client, tenant, "u2", group="support")).status_code == 403


async def test_unknown_group_is_403(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2, group="sales")
    response = await allocate(client, tenant, "u1", group="nope")
    assert (response.status_code, response.text) == (403, EXHAUSTED)


async def test_absent_group_takes_any_group(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1, group="support")
    assert (await allocate(client, tenant, "u1")).text == phone


async def test_one_interaction_may_hold_one_phone_per_group(client, tenant: Tenant) -> None:
    [sales] = await add_phones(client, tenant, 1, group="sales")
    [support] = await add_phones(client, tenant, 1, group="support", start=10)
    assert (await allocate(client, tenant, "u1", group="sales")).text == sales
    assert (await allocate(client, tenant, "u1", group="support")).text == support
    assert (await allocate(client, tenant, "u1", group="sales")).text == sales


async def test_timeout_defaults_to_300_seconds(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    assert seconds_held(await allocate_json(client, tenant, "u1")) == 300


async def test_timeout_seconds_is_honoured(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    assert seconds_held(await allocate_json(client, tenant, "u1", timeoutSeconds=45)) == 45


async def test_timeout_is_clamped_to_the_service_maximum(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    assert seconds_held(await allocate_json(client, tenant, "u1", timeoutSeconds=999_999)) == 3600


async def test_tenant_default_and_maximum_apply(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2)
    await set_policy(client, tenant.tenant_id, defaultTimeoutSeconds=120, maxTimeoutSeconds=600)
    assert seconds_held(await allocate_json(client, tenant, "u1")) == 120
    assert seconds_held(await allocate_json(client, tenant, "u2", timeoutSeconds=7200)) == 600


async def test_non_positive_timeout_is_400_and_allocates_nothing(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    response = await allocate(client, tenant, "u1", timeoutSeconds=0)
    assert response.status_code == 400
    assert "timeoutSeconds" in response.text
    assert await holder(client, tenant, phone) == ""


async def test_expired_allocation_is_ended_for_lookups_without_any_job(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await expire_phone(db, phone)
    assert await holder(client, tenant, phone) == ""


async def test_expired_phone_can_be_allocated_again_at_once(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await expire_phone(db, phone)
    assert (await allocate(client, tenant, "u2")).text == phone
    assert await holder(client, tenant, phone) == "u2"


async def test_reclaimed_allocation_is_recorded_as_expired_at_its_expiry(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await expire_phone(db, phone)
    await allocate(client, tenant, "u2")
    row = await db.fetchrow(
        "SELECT end_reason, ended_at = expires_at AS exact FROM phone_history WHERE unique_id = 'u1'")
    assert (row["end_reason"], row["exact"]) == ("expired", True)


async def test_expired_interaction_gets_a_new_allocation(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    first = await allocate_json(client, tenant, "u1")
    await expire_phone(db, phone)
    second = await allocate_json(client, tenant, "u1")
    assert second["allocatedAt"] != first["allocatedAt"]
    assert await holder(client, tenant, phone) == "u1"


async def test_least_recently_released_phone_goes_first(client, tenant: Tenant) -> None:
    phones = await add_phones(client, tenant, 3)
    for uid in ("a", "b", "c"):
        await allocate(client, tenant, uid)
    order = [phones[1], phones[2], phones[0]]
    for phone in order:
        await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert [(await allocate(client, tenant, uid)).text for uid in ("d", "e", "f")] == order


async def test_quarantine_keeps_a_released_phone_out(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await set_policy(client, tenant.tenant_id, quarantineSeconds=3600)
    await allocate(client, tenant, "u1")
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert (await allocate(client, tenant, "u2")).status_code == 403


async def test_without_quarantine_a_released_phone_is_reused(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert (await allocate(client, tenant, "u2")).text == phone


async def test_disabled_phone_is_never_allocated(client, tenant: Tenant) -> None:
    [phone, _] = await add_phones(client, tenant, 2)
    await client.put(f"{DNIS}/{phone}", json={"enabled": False}, headers=tenant.dnis_user)
    assert (await allocate(client, tenant, "u1")).text != phone
    assert (await allocate(client, tenant, "u2")).status_code == 403


async def test_disabled_expired_phone_is_not_reclaimed(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await client.put(f"{DNIS}/{phone}", json={"enabled": False}, headers=tenant.dnis_user)
    await expire_phone(db, phone)
    assert (await allocate(client, tenant, "u2")).status_code == 403


async def test_get_by_dn_id(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    assert await holder(client, tenant, "0001") == "u1"


async def test_get_accepts_a_plus_and_separators(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    assert await holder(client, tenant, f"%2B{phone}") == "u1"


async def test_get_of_unknown_number_is_404(client, tenant: Tenant) -> None:
    response = await client.get(f"{DNIS}/allocate/get/999", headers=tenant.dnis)
    assert (response.status_code, response.text) == (404, "Phone number 999 was not found")


async def test_free_of_unknown_number_is_404(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/allocate/free/999", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (404, "Phone number 999 was not found")


async def test_free_of_a_free_phone_is_200_empty(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    response = await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (200, "")


async def test_free_records_reason_freed(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert await db.fetchval("SELECT end_reason FROM phone_history") == "freed"


async def test_free_guarded_by_another_interaction_is_409(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    response = await client.post(f"{DNIS}/allocate/free/{phone}?uniqueId=u2", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (409, f"Phone number {phone} is allocated to another interaction")
    assert await holder(client, tenant, phone) == "u1"


async def test_free_guarded_by_the_holder_frees(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    response = await client.post(f"{DNIS}/allocate/free/{phone}?uniqueId=u1", headers=tenant.dnis_user)
    assert response.status_code == 200
    assert await holder(client, tenant, phone) == ""


async def test_extend_moves_the_expiry(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    first = await allocate_json(client, tenant, "u1", timeoutSeconds=60)
    response = await client.post(f"{DNIS}/allocate/extend/{phone}", json={"id": "u1", "timeoutSeconds": 600},
                                 headers=tenant.web)
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["expiresAt"]) > datetime.fromisoformat(first["expiresAt"])
    assert seconds_held(response.json()) >= 600


async def test_extend_by_another_interaction_is_404(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    response = await client.post(f"{DNIS}/allocate/extend/{phone}", json={"id": "u2"}, headers=tenant.web)
    assert response.status_code == 404


async def test_extend_of_an_expired_allocation_is_404(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await expire_phone(db, phone)
    response = await client.post(f"{DNIS}/allocate/extend/{phone}", json={"id": "u1"}, headers=tenant.web)
    assert response.status_code == 404


async def test_history_answers_who_held_a_number_at_a_moment(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "first")
    await expire_phone(db, phone, seconds_ago=600, held_seconds=3000)  # held from 1 h ago to 10 min ago
    await allocate(client, tenant, "second")
    now = await db.fetchval("SELECT now()")

    async def held_at(moment: datetime) -> list[str]:
        response = await client.get(f"{DNIS}/{phone}/history", params={"at": moment.isoformat()},
                                    headers=tenant.dnis_user)
        assert response.status_code == 200
        return [a["uniqueId"] for a in response.json()["allocations"]]

    assert await held_at(now - timedelta(minutes=30)) == ["first"]
    assert await held_at(now - timedelta(minutes=5)) == []
    assert await held_at(now + timedelta(seconds=1)) == ["second"]
    assert await held_at(now - timedelta(hours=2)) == []


async def test_history_without_a_moment_lists_recent_allocations(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    await allocate(client, tenant, "u2")
    response = await client.get(f"{DNIS}/{phone}/history", headers=tenant.dnis_user)
    entries = response.json()["allocations"]
    assert [(e["uniqueId"], e["endReason"]) for e in entries] == [("u2", None), ("u1", "freed")]


async def test_history_of_unknown_number_is_404(client, tenant: Tenant) -> None:
    response = await client.get(f"{DNIS}/999/history", headers=tenant.dnis_user)
    assert response.status_code == 404


async def test_allocation_makes_the_interaction_known_without_writing_its_row(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1")
    assert await db.fetchval("SELECT count(*) FROM interactions") == 0
    shown = (await client.get("/interact/version/2/interactions/u1", headers=tenant.headers("public"))).json()
    assert (shown["uniqueId"], shown["state"], shown["userData"], shown["phoneNumber"]) == ("u1", "active", {}, phone)
    listed = (await client.get("/interact/version/2/interactions", headers=tenant.headers("public"))).json()
    assert [i["uniqueId"] for i in listed["interactions"]] == ["u1"]


async def test_allocation_with_attributes_writes_the_interaction_row(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    await allocate(client, tenant, "u1", historySearchId="h1")
    assert await db.fetchval("SELECT user_data FROM interactions WHERE unique_id = 'u1'") == {"historySearchId": "h1"}
