"""Interactions, user data, Complete and Cancel, unsupported agent operations."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import DNIS, Tenant, add_phones

INTERACTIONS = "/interact/version/2/interactions"


async def operate(client, tenant: Tenant, uid: str, operation: str, **body):
    return await client.post(f"{INTERACTIONS}/{uid}", json={"operationName": operation, **body},
                             headers=tenant.headers("public"))


async def test_create_generates_a_uuid_when_none_is_given(client, tenant: Tenant) -> None:
    response = await client.post(INTERACTIONS, json={}, headers=tenant.headers("public"))
    assert response.status_code == 200
    uuid.UUID(response.json()["uniqueId"])


async def test_create_with_an_existing_id_is_409(client, tenant: Tenant) -> None:
    for expected in (200, 409):
        response = await client.post(INTERACTIONS, json={"uniqueId": "u1"}, headers=tenant.headers("public"))
        assert response.status_code == expected


async def test_get_shows_user_data_and_the_live_phone(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await operate(client, tenant, "u1", "UpdateUserData", userData={"lang": "en"})
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["uniqueId"] == "u1"
    assert body["state"] == "active"
    assert body["userData"] == {"lang": "en"}
    assert body["phoneNumber"] == phone
    assert "createdAt" in body and "updatedAt" in body


async def test_list_shows_each_interactions_user_data(client, tenant: Tenant) -> None:
    created = {"uniqueId": "u1", "userData": {"lang": "en"}}
    await client.post(INTERACTIONS, json=created, headers=tenant.headers("public"))
    body = (await client.get(INTERACTIONS, headers=tenant.headers("public"))).json()
    assert [(i["uniqueId"], i["userData"]) for i in body["interactions"]] == [("u1", {"lang": "en"})]


async def test_list_shows_active_interactions_page_by_page(client, tenant: Tenant) -> None:
    for n in range(5):
        await client.post(INTERACTIONS, json={"uniqueId": f"u{n}"}, headers=tenant.headers("public"))
    await operate(client, tenant, "u0", "Complete")
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        body = (await client.get(INTERACTIONS, params=params, headers=tenant.headers("public"))).json()
        seen += [i["uniqueId"] for i in body["interactions"]]
        after = body["next"]
        if after is None:
            break
    assert sorted(seen) == ["u1", "u2", "u3", "u4"]


async def test_update_user_data_adds_and_overwrites(client, tenant: Tenant) -> None:
    await client.post(INTERACTIONS, json={"uniqueId": "u1", "userData": {"a": 1, "b": 2}},
                      headers=tenant.headers("public"))
    response = await operate(client, tenant, "u1", "UpdateUserData", userData={"b": 3, "c": 4})
    assert response.json() == {"status": "ok"}
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["userData"] == {"a": 1, "b": 3, "c": 4}


async def test_attach_user_data_adds_only_missing_keys(client, tenant: Tenant) -> None:
    await client.post(INTERACTIONS, json={"uniqueId": "u1", "userData": {"a": 1}}, headers=tenant.headers("public"))
    await operate(client, tenant, "u1", "AttachUserData", userData={"a": 9, "b": 2})
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["userData"] == {"a": 1, "b": 2}


async def test_delete_user_data_removes_the_given_keys(client, tenant: Tenant) -> None:
    await client.post(INTERACTIONS, json={"uniqueId": "u1", "userData": {"a": 1, "b": 2}},
                      headers=tenant.headers("public"))
    await operate(client, tenant, "u1", "DeleteUserData", userData={"a": None})
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["userData"] == {"b": 2}


@pytest.mark.parametrize(("operation", "reason"), [("Complete", "completed"), ("Cancel", "cancelled")])
async def test_ending_an_interaction_releases_its_phone_and_code(
    client, db, tenant: Tenant, operation: str, reason: str
) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/dtmf", json={"id": "u1"}, headers=tenant.web)
    response = await operate(client, tenant, "u1", operation)
    assert (response.status_code, response.json()) == (200, {"statusCode": 0})
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == ""
    reasons = {r["kind"]: r["end_reason"] for r in await db.fetch(
        "SELECT kind, end_reason FROM allocations UNION ALL SELECT 'phone', end_reason FROM phone_history")}
    assert reasons == {"phone": reason, "dtmf": reason}
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["state"] == reason
    assert "phoneNumber" not in body


async def test_an_interaction_that_only_borrows_a_phone_can_be_completed(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    response = await operate(client, tenant, "u1", "Complete")
    assert (response.status_code, response.json()) == (200, {"statusCode": 0})
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == ""
    assert await db.fetchval("SELECT end_reason FROM phone_history") == "completed"
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert (body["state"], body["userData"]) == ("completed", {})


async def test_user_data_given_to_an_interaction_that_only_borrows_a_phone_is_kept(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    response = await operate(client, tenant, "u1", "UpdateUserData", userData={"lang": "en"})
    assert response.status_code == 200
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert (body["state"], body["userData"]) == ("active", {"lang": "en"})


async def test_an_interaction_that_only_borrowed_a_phone_is_gone_once_it_is_released(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    response = await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))
    assert response.status_code == 404
    history = (await client.get(f"{DNIS}/{phone}/history", headers=tenant.dnis_user)).json()["allocations"]
    assert [h["uniqueId"] for h in history] == ["u1"]


@pytest.mark.parametrize(
    "operation",
    ["Accept", "Reject", "PlaceInQueue", "PlaceInWorkbin", "GetWorkbinContent", "SingleStepTransfer", "Transfer"],
)
async def test_agent_routing_operations_are_not_supported(client, tenant: Tenant, operation: str) -> None:
    await client.post(INTERACTIONS, json={"uniqueId": "u1"}, headers=tenant.headers("public"))
    response = await operate(client, tenant, "u1", operation)
    assert response.status_code == 400
    assert response.json() == {
        "status": "error", "errorDescription": f"Operation {operation} is not supported by the DNIS service",
    }


async def test_operation_on_an_unknown_interaction_is_404(client, tenant: Tenant) -> None:
    response = await operate(client, tenant, "nope", "Complete")
    assert (response.status_code, response.json()) == (
        404, {"statusCode": 1, "statusMessage": "Interaction nope was not found"},
    )


async def test_get_of_an_unknown_interaction_is_404(client, tenant: Tenant) -> None:
    response = await client.get(f"{INTERACTIONS}/nope", headers=tenant.headers("public"))
    assert response.json() == {"statusCode": 1, "statusMessage": "Interaction nope was not found"}


async def test_bad_call_return_number_is_400_and_changes_nothing(client, tenant: Tenant) -> None:
    await client.post(INTERACTIONS, json={"uniqueId": "u1"}, headers=tenant.headers("public"))
    response = await operate(client, tenant, "u1", "UpdateUserData", userData={"callReturnNumber": "call me"})
    assert response.status_code == 400
    assert "callReturnNumber" in response.json()["errorDescription"]
    body = (await client.get(f"{INTERACTIONS}/u1", headers=tenant.headers("public"))).json()
    assert body["userData"] == {}


async def test_interactions_need_the_public_key(client, tenant: Tenant) -> None:
    response = await client.get(INTERACTIONS, headers=tenant.web)
    assert response.status_code == 401
