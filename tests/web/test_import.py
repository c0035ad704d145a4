"""Big imports through `POST /dnis/bulk`: up to the body limit they succeed, all or nothing, whatever
the statement timeout; over it they are refused with a 413 naming the limit."""

from __future__ import annotations

import asyncio
import json

import httpx

from dnis_service.domain.phones import IMPORT_MAX_BYTES
from tests.conftest import DNIS, Tenant

ROWS = 400_000  # 4.8 MB of CSV: once answered "database unavailable" when its statement timed out
FIRST = 20_000_000_000


def csv_of(numbers: list[str]) -> bytes:
    return "\n".join(["phoneNumber", *numbers]).encode() + b"\n"


def numbers(count: int, first: int = FIRST) -> list[str]:
    return [str(n) for n in range(first, first + count)]


async def import_csv(client: httpx.AsyncClient, tenant: Tenant, body: bytes) -> httpx.Response:
    return await client.post(f"{DNIS}/bulk", content=body, headers=tenant.dnis_user | {"Content-Type": "text/csv"})


async def test_import_of_400000_phones_creates_them_all(client, db, tenant: Tenant) -> None:
    body = csv_of(numbers(ROWS))
    assert len(body) < IMPORT_MAX_BYTES
    response = await import_csv(client, tenant, body)
    assert (response.status_code, response.json()) == (200, {"created": ROWS})
    assert await db.fetchval("SELECT count(*) FROM phones") == ROWS


async def test_import_whose_last_row_exists_writes_nothing_and_names_it(client, db, tenant: Tenant) -> None:
    taken = await import_csv(client, tenant, csv_of(["15550000001"]))
    assert taken.status_code == 200
    response = await import_csv(client, tenant, csv_of([*numbers(ROWS - 1), "+1 555 000 0001"]))
    assert response.status_code == 409
    assert response.json()["duplicates"] == ["15550000001"]
    assert await db.fetchval("SELECT count(*) FROM phones") == 1


async def test_import_whose_last_row_repeats_the_first_writes_nothing(client, db, tenant: Tenant) -> None:
    rows = numbers(ROWS - 1)
    response = await import_csv(client, tenant, csv_of([*rows, rows[0]]))
    assert (response.status_code, response.json()["duplicates"]) == (409, [rows[0]])
    assert await db.fetchval("SELECT count(*) FROM phones") == 0


async def test_json_import_whose_last_row_is_bad_writes_nothing_and_names_the_row(client, db, tenant) -> None:
    rows = [{"phoneNumber": number} for number in numbers(ROWS // 2)]
    rows[-1]["phoneNumber"] = "CALL-ME"
    response = await client.post(f"{DNIS}/bulk", content=json.dumps(rows), headers=tenant.dnis_user)
    assert response.status_code == 400
    assert response.text.startswith(f"row {ROWS // 2}: phoneNumber")
    assert await db.fetchval("SELECT count(*) FROM phones") == 0


async def test_import_racing_another_for_a_number_writes_nothing_and_names_it(client, db, tenant: Tenant) -> None:
    """The other import takes the number after this one checked for it, before it inserts."""
    async with db.acquire() as other, other.transaction():
        scope_id = await other.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
        await other.execute("INSERT INTO phones (scope_id, phone_number) VALUES ($1, $2)", scope_id, str(FIRST))
        racing = asyncio.create_task(import_csv(client, tenant, csv_of(numbers(1000))))
        while not await db.fetchval(  # not `other`: a transaction sees one snapshot of pg_stat_activity
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT%'"):
            assert not racing.done(), racing.result().text
            await asyncio.sleep(0.01)
    response = await racing
    assert (response.status_code, response.json()["duplicates"]) == (409, [str(FIRST)])
    assert await db.fetchval("SELECT count(*) FROM phones") == 1


async def test_import_over_the_body_limit_is_413_naming_it(client, db, tenant: Tenant) -> None:
    body = csv_of(numbers(IMPORT_MAX_BYTES // 12 + 1))
    assert len(body) > IMPORT_MAX_BYTES
    response = await import_csv(client, tenant, body)
    assert (response.status_code, response.text) == (
        413, "body: an import is at most 10,000,000 bytes; split it into smaller ones")
    assert await db.fetchval("SELECT count(*) FROM phones") == 0
