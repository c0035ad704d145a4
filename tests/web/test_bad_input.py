"""Bad input gets a 400 whose reason names the field (and row), and writes nothing."""

from __future__ import annotations

import pytest

from dnis_service.domain.errors import TEXT_WITH_NUL_MESSAGE
from tests.conftest import DNIS, Tenant, add_phones

ALLOCATE = f"{DNIS}/allocate/new"


async def written(db) -> tuple[int, int, int]:
    return (await db.fetchval("SELECT count(*) FROM phones"), await db.fetchval("SELECT count(*) FROM allocations"),
            await db.fetchval("SELECT count(*) FROM interactions"))


@pytest.mark.parametrize(("body", "field"), [
    ({}, "id"),
    ({"id": ""}, "id"),
    ({"id": "x" * 10_000}, "id"),
    ({"id": 42}, "id"),
    ({"id": "u1", "timeoutSeconds": 0}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": -1}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": 1.5}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": True}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": "ten"}, "timeoutSeconds"),
    ({"id": "u1", "group": 7}, "group"),
    ({"id": "u1", "callReturnNumber": "call me"}, "callReturnNumber"),
])
async def test_bad_allocation_is_400_naming_the_field_and_writes_nothing(client, db, tenant, body, field) -> None:
    await add_phones(client, tenant, 1)
    before = await written(db)
    response = await client.post(ALLOCATE, json=body, headers=tenant.web)
    assert response.status_code == 400
    assert field in response.text
    assert await written(db) == before


@pytest.mark.parametrize("body", [
    {"id": "u\u00001"},
    {"id": "u1", "group": "g\u0000"},
    {"id": "u1", "historySearchId": "h\u0000"},
])
async def test_nul_character_in_text_is_400_and_writes_nothing(client, db, tenant, body) -> None:
    # Found by schemathesis: PostgreSQL refuses NUL in text, which was answered 500.
    await add_phones(client, tenant, 1)
    before = await written(db)
    response = await client.post(ALLOCATE, json=body, headers=tenant.web)
    assert (response.status_code, response.text) == (400, f"body: {TEXT_WITH_NUL_MESSAGE}")
    assert await written(db) == before


async def test_malformed_json_is_400(client, tenant: Tenant) -> None:
    headers = tenant.web | {"Content-Type": "application/json"}
    response = await client.post(ALLOCATE, content=b'{"id": ', headers=headers)
    assert response.status_code == 400
    assert response.text.startswith("body:")


@pytest.mark.parametrize("digits", [3, 9])
async def test_dtmf_digits_out_of_range_is_400(client, db, tenant: Tenant, digits: int) -> None:
    response = await client.post(f"{DNIS}/allocate/dtmf", json={"id": "u1", "digits": digits}, headers=tenant.web)
    assert response.status_code == 400
    assert "digits" in response.text
    assert await written(db) == (0, 0, 0)


@pytest.mark.parametrize("number", ["555-CALL-NOW", "12ab34", "", "+", "1" * 21])
async def test_letters_or_nonsense_in_a_phone_number_is_400(client, db, tenant: Tenant, number: str) -> None:
    response = await client.post(DNIS, json={"phoneNumber": number}, headers=tenant.dnis_user)
    assert response.status_code == 400
    assert "phoneNumber" in response.text
    assert await written(db) == (0, 0, 0)


async def test_bulk_json_with_one_bad_row_among_10000_names_the_row_and_writes_nothing(client, db, tenant) -> None:
    rows = [{"phoneNumber": f"1999{n:07d}"} for n in range(1, 10_001)]
    rows[6999]["phoneNumber"] = "1999-CALL-ME"
    response = await client.post(f"{DNIS}/bulk", json=rows, headers=tenant.dnis_user)
    assert response.status_code == 400
    assert response.text.startswith("row 7000: phoneNumber")
    assert await written(db) == (0, 0, 0)


async def test_bulk_csv_with_one_bad_row_among_10000_names_the_row_and_writes_nothing(client, db, tenant) -> None:
    lines = ["phoneNumber,dnId,groupName,enabled"] + [f"1999{n:07d},,,true" for n in range(1, 10_001)]
    lines[7000] = "19990007000,,,perhaps"
    response = await client.post(f"{DNIS}/bulk", content="\n".join(lines),
                                 headers=tenant.dnis_user | {"Content-Type": "text/csv"})
    assert (response.status_code, response.text) == (400, "row 7000: enabled: must be true or false")
    assert await written(db) == (0, 0, 0)


async def test_bulk_with_an_unknown_column_is_400(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/bulk", json=[{"phoneNumber": "1555", "colour": "red"}],
                                 headers=tenant.dnis_user)
    assert (response.status_code, response.text) == (400, "row 1: unknown field 'colour'")


async def test_bad_history_moment_is_400(client, tenant: Tenant) -> None:
    await add_phones(client, tenant, 1)
    response = await client.get(f"{DNIS}/15550000001/history", params={"at": "yesterday"}, headers=tenant.dnis_user)
    assert response.status_code == 400
    assert "at" in response.text
