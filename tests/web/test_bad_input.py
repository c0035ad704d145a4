"""Bad input gets a 400 whose reason names the field (and row), and writes nothing."""

from __future__ import annotations

import base64
import csv

import pytest

from dnis_service.domain.errors import TEXT_WITH_NUL_MESSAGE
from tests.conftest import ADMIN_TOKEN, DNIS, Tenant, add_phones

ALLOCATE = f"{DNIS}/allocate/new"


async def written(db) -> tuple[int, int, int]:
    return (await db.fetchval("SELECT count(*) FROM phones"),
            await db.fetchval("SELECT (SELECT count(*) FROM phone_allocations) + (SELECT count(*) FROM allocations)"),
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
    ({"id": "u1", "timeoutSeconds": 60.0}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": "60"}, "timeoutSeconds"),
    ({"id": "u1", "timeoutSeconds": "1e3"}, "timeoutSeconds"),
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


INTERACTIONS = "/interact/version/2/interactions"
ADMIN_SETTINGS = "/admin/v1/tenants/12345678/settings"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def answer_shape(path: str, response) -> str:
    """How each API words a 400: text naming the field; JSON for interactions and the operator API."""
    if path.startswith("/admin/"):
        return response.json()["message"]
    if path.startswith(INTERACTIONS):
        assert response.json()["status"] == "error"
        return response.json()["errorDescription"]
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def credentials_for(path: str, tenant: Tenant) -> dict[str, str]:
    if path.startswith("/admin/"):
        return ADMIN
    return tenant.headers("public") if path.startswith(INTERACTIONS) else tenant.web


@pytest.mark.parametrize("path", [ALLOCATE, INTERACTIONS, ADMIN_SETTINGS])
@pytest.mark.parametrize(("body", "reason"), [
    (b'{"id": "\xff\xfe"}', "body: JSON is not valid UTF-8"),
    ('{"id": "é"}'.encode("utf-16"), "body: JSON is malformed"),
    ('{"id": "é"}'.encode("latin-1"), "body: JSON is not valid UTF-8"),
    (b"[" * 1000 + b"]" * 1000, "body: JSON is nested more than 32 levels deep"),
    (b'{"userData": ' + b'{"a":' * 40 + b"1" + b"}" * 41, "body: JSON is nested more than 32 levels deep"),
    (b'{"id": "\\ud800", "userData": {"k": "\\udfff"}}', "body:"),
    (b'{"userData": {"a": 1e400}}', "body: Number out of range"),
])
async def test_a_json_body_no_decoder_takes_is_400_in_the_apis_shape(client, tenant, path, body, reason) -> None:
    headers = credentials_for(path, tenant) | {"Content-Type": "application/json"}
    method = "PATCH" if path.startswith("/admin/") else "POST"
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == 400
    assert answer_shape(path, response).startswith(reason)


async def test_bulk_json_nested_a_thousand_deep_is_400(client, tenant: Tenant) -> None:
    response = await client.post(f"{DNIS}/bulk", content=b"[" * 1000 + b"]" * 1000,
                                 headers=tenant.dnis_user | {"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (400, "body: JSON is nested more than 32 levels deep")


async def test_bulk_json_with_a_lone_surrogate_is_400_and_writes_nothing(client, db, tenant: Tenant) -> None:
    body = b'[{"phoneNumber": "15551112222", "groupName": "g\\ud800"}]'
    response = await client.post(f"{DNIS}/bulk", content=body,
                                 headers=tenant.dnis_user | {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert await written(db) == (0, 0, 0)


@pytest.mark.parametrize(("header", "value"), [
    ("User-Id", b"\xe9\xe9"), ("User-Password", b"\xff"), ("User-Id", b"AA=="), ("Tenant-Id", b"1234\xe9"),
    ("Application-Key", b"k\xe9y"), ("Environment-Name", b"\xff"),
])
async def test_an_odd_byte_in_a_credential_header_is_401_with_a_reason(client, tenant, header, value) -> None:
    headers = {name: text.encode() for name, text in tenant.dnis_user.items()} | {header: value}
    response = await client.get(DNIS, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "0x7000000"
    assert response.headers["Unauthenticated-Reason"]


async def test_an_odd_byte_in_the_admin_token_is_401_in_json(client) -> None:
    response = await client.get(ADMIN_SETTINGS, headers={"Authorization": b"Bearer \xe9"})
    assert response.status_code == 401
    assert "message" in response.json()


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("PATCH", ADMIN_SETTINGS, {"quarantineSeconds": 2**31}, "quarantineSeconds"),
    ("PATCH", ADMIN_SETTINGS, {"defaultTimeoutSeconds": 10**30}, "defaultTimeoutSeconds"),
    ("PATCH", ADMIN_SETTINGS, {"dtmfDigits": -(2**63)}, "dtmfDigits"),
    ("POST", "/interact/version/2/account/12345678/resources/campaigns",
     {"campaignId": "c1", "smsText": "hi", "tokenTtlSeconds": 2**31}, "tokenTtlSeconds"),
    ("POST", ALLOCATE, {"id": "u1", "timeoutSeconds": 2**63}, "timeoutSeconds"),
    ("POST", f"{DNIS}/allocate/dtmf", {"id": "u1", "digits": 10**30}, "digits"),
])
async def test_numbers_beyond_a_database_integer_are_400_naming_the_field(client, tenant, method, path, body,
                                                                           field) -> None:
    headers = ADMIN if path.startswith("/admin/") else tenant.headers("public" if "resources" in path else "web")
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 400
    assert field in response.text


@pytest.mark.parametrize("limit", ["99999999999999999999", "-1", "0", "1001",  # out of range
                                   "1.0", "1e3", "+5", " 5", "5 ", "\u0665", "0x10"])  # not decimal digits
@pytest.mark.parametrize("path", [DNIS, INTERACTIONS])
async def test_a_page_size_is_an_integer_from_1_to_1000_in_decimal_digits(client, tenant, path, limit) -> None:
    headers = tenant.headers("public") if path == INTERACTIONS else tenant.dnis_user
    response = await client.get(path, params={"limit": limit}, headers=headers)
    assert response.status_code == 400
    assert answer_shape(path, response) == "limit: must be an integer from 1 to 1000"


REPORT = "/interact/version/2/account/12345678/resources/jp/report/campaign/c1"


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59.999999-23:59", "9999-12-31T23:00:00-01:00",
                                    "0001-01-01T00:00:00+00:01"])
@pytest.mark.parametrize(("path", "parameter"), [(f"{DNIS}/15550000001/history", "at"), (REPORT, "from"),
                                                  (REPORT, "to")])
async def test_a_moment_outside_the_years_1_to_9999_in_utc_is_400(client, tenant, path, parameter, moment) -> None:
    await add_phones(client, tenant, 1)
    await client.post("/interact/version/2/account/12345678/resources/campaigns",
                      json={"campaignId": "c1", "smsText": "hi"}, headers=tenant.headers("public"))
    headers = tenant.dnis_user if parameter == "at" else tenant.headers("public")
    response = await client.get(path, params={parameter: moment}, headers=headers)
    assert (response.status_code, response.text) == (400, f"{parameter}: must lie within the years 1 to 9999 in UTC")


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59", "0001-01-01T00:00:00Z"])
async def test_the_first_and_last_moments_of_datetime_are_answered(client, tenant: Tenant, moment: str) -> None:
    await add_phones(client, tenant, 1)
    response = await client.get(f"{DNIS}/15550000001/history", params={"at": moment}, headers=tenant.dnis_user)
    assert (response.status_code, response.json()["allocations"]) == (200, [])


@pytest.mark.parametrize("cursor", [
    base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "\\ud800"]').decode(),
    base64.urlsafe_b64encode(b'["9999-12-31T23:59:59-01:00", "u1"]').decode(),
    base64.urlsafe_b64encode(b'[1, 2]').decode(),
    "%%%",
])
async def test_a_page_cursor_the_service_never_gave_is_400(client, tenant: Tenant, cursor: str) -> None:
    response = await client.get(INTERACTIONS, params={"after": cursor}, headers=tenant.headers("public"))
    assert response.status_code == 400
    assert answer_shape(INTERACTIONS, response).startswith("after:")


async def test_a_csv_field_over_the_csv_modules_limit_is_400_and_writes_nothing(client, db, tenant) -> None:
    body = "phoneNumber,groupName\n15551112222," + "g" * (csv.field_size_limit() + 1)
    response = await client.post(f"{DNIS}/bulk", content=body, headers=tenant.dnis_user | {"Content-Type": "text/csv"})
    assert (response.status_code, response.text) == (400, f"csv: line 2: field larger than field limit "
                                                          f"({csv.field_size_limit()})")
    assert await written(db) == (0, 0, 0)


@pytest.mark.parametrize(("path", "body"), [
    (INTERACTIONS, {"userData": {"k": "v\u0000"}}),
    ("/admin/v1/tenants/12345678/users", {"userId": "u\u0000", "password": "password123"}),
])
async def test_a_nul_character_is_400_in_the_apis_own_shape(client, tenant: Tenant, path: str, body) -> None:
    response = await client.post(path, json=body, headers=credentials_for(path, tenant))
    assert response.status_code == 400
    assert answer_shape(path, response) == f"body: {TEXT_WITH_NUL_MESSAGE}"


@pytest.mark.parametrize("number", [b"60.0", b"1e3", b"1E3", b'"60"', b"6e1"])
@pytest.mark.parametrize(("method", "path", "template", "field"), [
    ("POST", ALLOCATE, b'{"id": "u1", "timeoutSeconds": N}', "timeoutSeconds"),
    ("POST", f"{DNIS}/allocate/dtmf", b'{"id": "u1", "digits": N}', "digits"),
    ("POST", f"{DNIS}/allocate/extend/15550000001", b'{"id": "u1", "timeoutSeconds": N}', "timeoutSeconds"),
    ("POST", "/interact/version/2/account/12345678/resources/campaigns",
     b'{"campaignId": "c1", "smsText": "hi", "tokenTtlSeconds": N}', "tokenTtlSeconds"),
    ("PATCH", ADMIN_SETTINGS, b'{"quarantineSeconds": N}', "quarantineSeconds"),
])
async def test_only_json_integers_are_numbers(client, tenant, method, path, template, field, number) -> None:
    """The README's rule: a number field takes a JSON integer; 60.0, 1e3 or "60" is a 400 naming it."""
    await add_phones(client, tenant, 1)
    headers = ADMIN if path.startswith("/admin/") else tenant.headers("public" if "resources" in path else "web")
    response = await client.request(method, path, content=template.replace(b"N", number),
                                    headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert answer_shape(path, response).startswith(f"{field}: must be")
