"""Creating, listing, changing and removing phones."""

from __future__ import annotations

from tests.conftest import DNIS, Tenant, add_phones


async def create(client, tenant: Tenant, **body):
    return await client.post(DNIS, json=body, headers=tenant.dnis_user)


async def test_create_answers_the_new_id_as_text(client, tenant: Tenant) -> None:
    response = await create(client, tenant, phoneNumber="+1 (555) 000-0001", dnId="0001", groupName="sales")
    assert response.status_code == 200
    assert response.text.isdigit()
    phone = (await client.get(f"{DNIS}/15550000001", headers=tenant.dnis_user)).json()
    assert (phone["id"], phone["phoneNumber"], phone["dnId"], phone["groupName"], phone["enabled"]) == (
        response.text, "15550000001", "0001", "sales", True)


async def test_create_of_an_existing_number_is_409(client, tenant: Tenant) -> None:
    await create(client, tenant, phoneNumber="15550000001")
    response = await create(client, tenant, phoneNumber="+1 555 000 0001")
    assert (response.status_code, response.text) == (
        409, "Cannot create Phone '15550000001'. A phone with that name already exists")


async def test_a_number_has_one_owner_across_tenants(client, tenant: Tenant, other_tenant: Tenant) -> None:
    await create(client, tenant, phoneNumber="15550000001")
    response = await client.post(DNIS, json={"phoneNumber": "15550000001"}, headers=other_tenant.dnis_user)
    assert response.status_code == 409


async def test_bulk_json_creates_all(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 25)
    assert await db.fetchval("SELECT count(*) FROM phones") == 25


async def test_bulk_csv_creates_all(client, db, tenant: Tenant) -> None:
    body = "phoneNumber,dnId,groupName,enabled\n+15550000001,0001,sales,true\n15550000002,,,false\n"
    response = await client.post(f"{DNIS}/bulk", content=body, headers=tenant.dnis_user | {"Content-Type": "text/csv"})
    assert (response.status_code, response.json()) == (200, {"created": 2})
    assert await db.fetchval("SELECT enabled FROM phones WHERE phone_number = '15550000002'") is False


async def test_bulk_csv_saved_with_a_byte_order_mark_creates_all(client, db, tenant: Tenant) -> None:
    # Spreadsheets save "CSV UTF-8" with a byte-order mark before the header.
    body = "\ufeffphoneNumber,groupName\n15550000001,sales\n".encode()
    response = await client.post(f"{DNIS}/bulk", content=body, headers=tenant.dnis_user | {"Content-Type": "text/csv"})
    assert (response.status_code, response.json()) == (200, {"created": 1})
    assert await db.fetchval("SELECT group_name FROM phones") == "sales"


async def test_bulk_csv_with_only_a_header_is_400_saying_so(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/bulk", content="phoneNumber,dnId\n",
                                 headers=tenant.dnis_user | {"Content-Type": "text/csv"})
    assert (response.status_code, response.text) == (400, "csv: no rows after the header")


async def test_bulk_with_a_duplicate_creates_nothing_and_lists_it(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    body = [{"phoneNumber": "15550000001"}, {"phoneNumber": "15550000099"}, {"phoneNumber": "15550000099"}]
    response = await client.post(f"{DNIS}/bulk", json=body, headers=tenant.dnis_user)
    assert response.status_code == 409
    assert response.json()["duplicates"] == ["15550000001", "15550000099"]
    assert await db.fetchval("SELECT count(*) FROM phones") == 1


async def test_list_filters_by_group_enabled_and_state(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 3, group="sales")
    await add_phones(client, tenant, 2, group="support", start=10)
    await client.put(f"{DNIS}/15550000010", json={"enabled": False}, headers=tenant.dnis_user)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1", "group": "sales"}, headers=tenant.web)

    async def numbers(**params) -> list[str]:
        body = (await client.get(DNIS, params=params, headers=tenant.dnis_user)).json()
        return [p["phoneNumber"] for p in body["phones"]]

    assert len(await numbers(groupName="sales")) == 3
    assert await numbers(enabled="false") == ["15550000010"]
    assert len(await numbers(state="allocated")) == 1
    assert len(await numbers(state="free")) == 4


async def test_list_pages_with_limit_and_after(client, tenant: Tenant) -> None:
    phones = await add_phones(client, tenant, 5)
    seen, after = [], None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        body = (await client.get(DNIS, params=params, headers=tenant.dnis_user)).json()
        seen += [p["phoneNumber"] for p in body["phones"]]
        after = body["next"]
        if after is None:
            break
    assert seen == sorted(phones)


async def test_get_shows_the_live_allocation(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    body = (await client.get(f"{DNIS}/0001", headers=tenant.dnis_user)).json()
    assert body["phoneNumber"] == phone
    assert body["state"] == "allocated"
    assert body["allocation"]["uniqueId"] == "u1"


async def test_get_of_an_unknown_phone_is_404(client, tenant: Tenant) -> None:
    response = await client.get(f"{DNIS}/999", headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (404, "Phone number 999 was not found")


async def test_put_changes_only_the_fields_sent(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1, group="sales")
    response = await client.put(f"{DNIS}/15550000001", json={"dnId": "X1"}, headers=tenant.dnis_user)
    assert (response.json()["dnId"], response.json()["groupName"]) == ("X1", "sales")


async def test_put_of_a_taken_dn_id_is_409(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 2)
    response = await client.put(f"{DNIS}/15550000001", json={"dnId": "0002"}, headers=tenant.dnis_user)
    assert response.status_code == 409


async def test_disabling_an_allocated_phone_keeps_the_allocation(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.put(f"{DNIS}/{phone}", json={"enabled": False}, headers=tenant.dnis_user)
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == "u1"
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert (await client.post(f"{DNIS}/allocate/new", json={"id": "u2"}, headers=tenant.web)).status_code == 403


async def test_delete_of_an_allocated_phone_is_409_and_keeps_it(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    response = await client.delete(f"{DNIS}/{phone}", headers=tenant.dnis_user)
    assert response.status_code == 409
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == "u1"


async def test_forced_delete_releases_with_reason_deleted(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    response = await client.delete(f"{DNIS}/{phone}", params={"force": "true"}, headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (200, "")
    assert (await client.get(f"{DNIS}/{phone}", headers=tenant.dnis_user)).status_code == 404
    history = (await client.get(f"{DNIS}/{phone}/history", headers=tenant.dnis_user)).json()
    assert [(a["uniqueId"], a["endReason"]) for a in history["allocations"]] == [("u1", "deleted")]


async def test_delete_of_a_free_phone_removes_it(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    assert (await client.delete(f"{DNIS}/{phone}", headers=tenant.dnis_user)).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM phones") == 0


async def test_moving_an_allocated_phone_into_a_group_its_holder_holds_already_is_400(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1, group="sales")
    [second] = await add_phones(client, tenant, 1, group="support", start=10)
    for group in ("sales", "support"):
        allocated = await client.post(f"{DNIS}/allocate/new", json={"id": "u1", "group": group}, headers=tenant.web)
        assert allocated.status_code == 200
    response = await client.put(f"{DNIS}/{second}", json={"groupName": "sales"}, headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (
        400, "groupName: the interaction that holds this phone holds one in that group")
    assert (await client.get(f"{DNIS}/{second}", headers=tenant.dnis_user)).json()["groupName"] == "support"
