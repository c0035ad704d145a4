"""uniqueId lookups by DTMF, call-return number, click-to-call and historySearchId."""

from __future__ import annotations

import pytest

from tests.conftest import DNIS, Tenant, add_phones, expire_phone

INTERACTIONS = "/interact/version/2/interactions"


def lookup_path(tenant: Tenant, attribute: str, value: str) -> str:
    return f"/interact/agent/version/2/account/{tenant.tenant_id}/uniqueId/{attribute}/{value}"


async def lookup(client, tenant: Tenant, attribute: str, value: str):
    return await client.get(lookup_path(tenant, attribute, value), headers=tenant.headers("public"))


async def set_user_data(client, tenant: Tenant, uid: str, operation: str = "UpdateUserData", **data) -> None:
    response = await client.post(f"{INTERACTIONS}/{uid}", json={"operationName": operation, "userData": data},
                                 headers=tenant.headers("public"))
    assert response.status_code == 200, response.text


async def create(client, tenant: Tenant, uid: str) -> None:
    response = await client.post(INTERACTIONS, json={"uniqueId": uid}, headers=tenant.headers("public"))
    assert response.status_code == 200, response.text


async def test_click_to_call_finds_the_holder_as_plain_text(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "4df73e86"}, headers=tenant.web)
    response = await lookup(client, tenant, "clickToCall", phone)
    assert (response.status_code, response.text) == (200, "4df73e86")
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("form", ["%2B{phone}", "{phone}", "0001"], ids=["plus-encoded", "canonical", "dnId"])
async def test_click_to_call_matches_every_form_of_the_number(client, tenant: Tenant, form: str) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    assert (await lookup(client, tenant, "clickToCall", form.format(phone=phone))).text == "u1"


async def test_click_to_call_of_a_free_phone_is_404(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    response = await lookup(client, tenant, "clickToCall", phone)
    assert (response.status_code, response.text) == (404, f"UUID for click to call {phone} was not found")


async def test_click_to_call_of_an_expired_allocation_is_404(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await expire_phone(db, phone)
    assert (await lookup(client, tenant, "clickToCall", phone)).status_code == 404


async def test_dtmf_finds_the_holder_of_a_live_code(client, tenant: Tenant) -> None:
    code = (await client.post(f"{DNIS}/allocate/dtmf", json={"id": "u1"}, headers=tenant.web)).text
    assert (await lookup(client, tenant, "dtmf", code)).text == "u1"


async def test_dtmf_of_an_expired_code_is_404(client, db, tenant: Tenant) -> None:
    code = (await client.post(f"{DNIS}/allocate/dtmf", json={"id": "u1"}, headers=tenant.web)).text
    await db.execute("UPDATE allocations SET allocated_at = now() - interval '1 hour', expires_at = now()")
    response = await lookup(client, tenant, "dtmf", code)
    assert (response.status_code, response.text) == (404, f"UUID for dtmf {code} was not found")


async def test_history_search_id_finds_the_interaction(client, tenant: Tenant) -> None:
    await create(client, tenant, "u1")
    await set_user_data(client, tenant, "u1", historySearchId="744907dd90-6b2e7b816f538cd")
    assert (await lookup(client, tenant, "historySearchId", "744907dd90-6b2e7b816f538cd")).text == "u1"


async def test_unknown_history_search_id_is_404_with_the_vendor_text(client, tenant: Tenant) -> None:
    response = await lookup(client, tenant, "historySearchId", "0523331010")
    assert (response.status_code, response.text) == (404, "UUID for history search 0523331010 was not found")


async def test_call_return_number_matches_in_canonical_form(client, tenant: Tenant) -> None:
    await create(client, tenant, "u1")
    await set_user_data(client, tenant, "u1", callReturnNumber="+1 (212) 123-4567")
    assert (await lookup(client, tenant, "callReturn", "%2B12121234567")).text == "u1"
    assert (await lookup(client, tenant, "callReturn", "12121234567")).text == "u1"


async def test_unknown_call_return_number_is_404_with_the_label(client, tenant: Tenant) -> None:
    response = await lookup(client, tenant, "callReturn", "2121234567")
    assert (response.status_code, response.text) == (404, "UUID for call return 2121234567 was not found")


async def test_most_recently_set_value_wins(client, tenant: Tenant) -> None:
    await create(client, tenant, "older")
    await create(client, tenant, "newer")
    await set_user_data(client, tenant, "older", historySearchId="shared")
    await set_user_data(client, tenant, "newer", historySearchId="shared")
    assert (await lookup(client, tenant, "historySearchId", "shared")).text == "newer"
    await set_user_data(client, tenant, "older", historySearchId="other")
    await set_user_data(client, tenant, "older", historySearchId="shared")
    assert (await lookup(client, tenant, "historySearchId", "shared")).text == "older"


async def test_delete_user_data_removes_the_value_from_lookups(client, tenant: Tenant) -> None:
    await create(client, tenant, "u1")
    await set_user_data(client, tenant, "u1", historySearchId="h1")
    await set_user_data(client, tenant, "u1", "DeleteUserData", historySearchId="")
    assert (await lookup(client, tenant, "historySearchId", "h1")).status_code == 404


async def test_attach_user_data_does_not_replace_a_value(client, tenant: Tenant) -> None:
    await create(client, tenant, "u1")
    await set_user_data(client, tenant, "u1", "AttachUserData", historySearchId="first")
    await set_user_data(client, tenant, "u1", "AttachUserData", historySearchId="second")
    assert (await lookup(client, tenant, "historySearchId", "first")).text == "u1"
    assert (await lookup(client, tenant, "historySearchId", "second")).status_code == 404


async def test_attributes_sent_with_an_allocation_are_found(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    body = {"id": "u1", "historySearchId": "h-at-allocation", "callReturnNumber": "+44 20 7946 0000"}
    assert (await client.post(f"{DNIS}/allocate/new", json=body, headers=tenant.web)).status_code == 200
    assert (await lookup(client, tenant, "historySearchId", "h-at-allocation")).text == "u1"
    assert (await lookup(client, tenant, "callReturn", "442079460000")).text == "u1"


async def test_another_tenants_data_never_answers(client, tenant: Tenant, other_tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "mine", "historySearchId": "h"}, headers=tenant.web)
    for attribute, value in [("clickToCall", phone), ("historySearchId", "h")]:
        response = await lookup(client, other_tenant, attribute, value)
        assert response.status_code == 404


async def test_account_id_must_match_the_tenant_header(client, tenant: Tenant, other_tenant: Tenant) -> None:
    path = lookup_path(other_tenant, "dtmf", "1234")
    response = await client.get(path, headers=tenant.headers("public"))
    assert response.status_code == 401


async def test_lookup_needs_the_public_key(client, tenant: Tenant) -> None:
    response = await client.get(lookup_path(tenant, "dtmf", "1234"), headers=tenant.dnis)
    assert response.status_code == 401


async def test_unknown_attribute_is_400(client, tenant: Tenant) -> None:
    assert (await lookup(client, tenant, "shoeSize", "42")).status_code == 400
