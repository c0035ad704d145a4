"""The pool itself: creating, listing, changing and removing phones."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dnis_service.db.deadline import deadline
from dnis_service.db.pool import Connection
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.allocations import find_phone, lock_phone_with_holder
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import (
    DnIdExists,
    DuplicatePhones,
    InvalidInput,
    PhoneAllocated,
    PhoneExists,
    PhoneNotFound,
)
from dnis_service.domain.transactions import transaction

FIELDS = ("phoneNumber", "dnId", "groupName", "enabled")
# The largest import body: litestar's default for every request, made explicit and named in the 413.
IMPORT_MAX_BYTES = 10_000_000
# An import runs under a deadline of its own, not the statement timeout: 400,000 phones (4.8 MB of
# CSV) took 7-9 s, the 830,000 of a 10 MB body 13-17 s (bench/README.md).
IMPORT_TIMEOUT_SECONDS = 60.0
# Validating and copying rows is CPU work on the event loop: other requests get a turn this often.
_ROWS_PER_TURN = 2000


@dataclass(frozen=True, slots=True)
class PhoneSpec:
    phone_number: str
    dn_id: str | None
    group_name: str
    enabled: bool


@dataclass(frozen=True)
class Phone:
    phone_id: int
    phone_number: str
    dn_id: str | None
    group_name: str
    enabled: bool
    holder: str | None
    allocated_at: datetime | None
    expires_at: datetime | None


def phone_spec(item: object, row: int | None = None) -> PhoneSpec:
    """Validate one phone as sent (JSON object or CSV row); errors name the field and row."""
    where = f"row {row}: " if row is not None else ""
    try:
        if not isinstance(item, Mapping):
            raise InvalidInput("must be an object with phoneNumber, dnId?, groupName?, enabled?")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise InvalidInput(f"unknown field {unknown[0]!r}")
        return PhoneSpec(
            phone_number=inputs.phone_number(item.get("phoneNumber")),
            dn_id=inputs.dn_id(item.get("dnId")),
            group_name=inputs.group_name(item.get("groupName")),
            enabled=inputs.enabled_flag(item.get("enabled")),
        )
    except InvalidInput as error:
        raise InvalidInput(where + error.message) from None


def phone_specs(items: object) -> Iterator[PhoneSpec]:
    """The phones of a JSON array, validated one at a time as the import reads them."""
    if not isinstance(items, list) or not items:
        raise InvalidInput("body: must be a non-empty JSON array of phones")
    return _validated(items)


def _validated(items: Iterable[object]) -> Iterator[PhoneSpec]:
    """Lazily, so that a big import is never held in memory whole (400,000 phones as objects took
    190 MB)."""
    for row, item in enumerate(items, start=1):
        yield phone_spec(item, row)


def phone_specs_from_csv(text: str) -> Iterator[PhoneSpec]:
    """Rows of a CSV file whose header names the phone fields (phoneNumber first or anywhere),
    read as the import goes. A byte-order mark before the header, as spreadsheets save UTF-8, is
    not part of it."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    with _csv_errors(reader):
        if reader.fieldnames is None or "phoneNumber" not in reader.fieldnames:
            raise InvalidInput("csv: the header must name a phoneNumber column")
    return _validated(_csv_rows(reader))


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str, object]]:
    rows = 0
    with _csv_errors(reader):
        for row in reader:
            rows += 1
            if None in row:
                raise InvalidInput(f"row {reader.line_num - 1}: more values than header columns")
            yield {key: (value if value != "" else None) for key, value in row.items()}
    if rows == 0:
        raise InvalidInput("csv: no rows after the header")


@contextmanager
def _csv_errors(reader: csv.DictReader[str]) -> Iterator[None]:
    try:
        yield
    except csv.Error as error:  # a field over csv.field_size_limit(), a quote left open
        raise InvalidInput(f"csv: line {reader.reader.line_num}: {error}") from None


def _phone(row: asyncpg.Record) -> Phone:
    live = row["live"]
    return Phone(
        phone_id=row["phone_id"], phone_number=row["phone_number"], dn_id=row["dn_id"],
        group_name=row["group_name"], enabled=row["enabled"],
        holder=row["unique_id"] if live else None,
        allocated_at=row["allocated_at"] if live else None,
        expires_at=row["expires_at"] if live else None,
    )


async def create_phone(db: asyncpg.Pool, caller: Caller, spec: PhoneSpec) -> int:
    try:
        phone_id: int = await db.fetchval(
            query("insert_phone"), caller.scope_id, spec.phone_number, spec.dn_id, spec.group_name, spec.enabled
        )
    except asyncpg.UniqueViolationError as error:
        if "dn_id" in (error.constraint_name or ""):
            raise DnIdExists(spec.dn_id or "") from None
        raise PhoneExists(spec.phone_number) from None
    return phone_id


async def create_phones(db: asyncpg.Pool, caller: Caller, specs: Iterable[PhoneSpec]) -> int:
    """All or nothing: any number that exists (or repeats in the batch) refuses the whole batch.

    In one transaction, the rows are copied (COPY) into a temporary table as they are validated,
    checked for values taken or repeated, and inserted by one statement.
    """
    with deadline(IMPORT_TIMEOUT_SECONDS):
        async with db.acquire() as conn, conn.transaction():
            await conn.execute(query("create_phone_import"))
            status = await conn.copy_records_to_table(
                "phone_import", records=_import_records(specs),
                columns=("row_number", "phone_number", "dn_id", "group_name", "enabled"),
            )
            await conn.execute(query("analyze_phone_import"))
            duplicates = await _import_duplicates(conn, caller)
            if not duplicates:
                try:
                    async with conn.transaction():  # a savepoint, to look again after a failure
                        await conn.execute(query("insert_imported_phones"), caller.scope_id)
                except asyncpg.UniqueViolationError:
                    # A concurrent import took some of these after the check; committed, it shows now.
                    duplicates = await _import_duplicates(conn, caller)
            if duplicates:
                raise DuplicatePhones(duplicates)
    return int(status.split()[-1])


async def _import_duplicates(conn: Connection, caller: Caller) -> list[str]:
    return [r["value"] for r in await conn.fetch(query("phone_import_duplicates"), caller.scope_id)]


async def _import_records(specs: Iterable[PhoneSpec]) -> AsyncIterator[Sequence[object]]:
    """The COPY rows: (row number, phoneNumber, dnId, groupName, enabled)."""
    for row, spec in enumerate(specs, start=1):
        yield row, spec.phone_number, spec.dn_id, spec.group_name, spec.enabled
        if row % _ROWS_PER_TURN == 0:
            await asyncio.sleep(0)


async def list_phones(
    db: asyncpg.Pool, caller: Caller, group: str | None, enabled: bool | None, state: str | None,
    after: str | None, limit: int,
) -> list[Phone]:
    if state not in (None, "free", "allocated"):
        raise InvalidInput("state: must be free or allocated")
    allocated = None if state is None else state == "allocated"
    rows = await db.fetch(query("list_phones"), caller.scope_id, group, enabled, allocated, after, limit)
    return [_phone(row) for row in rows]


async def get_phone(db: asyncpg.Pool, caller: Caller, phone: str) -> Phone:
    row = await find_phone(db, caller, phone)
    if row is None:
        raise PhoneNotFound(phone)
    return _phone(row)


async def update_phone(db: asyncpg.Pool, caller: Caller, phone: str, changes: Mapping[str, object]) -> Phone:
    """Change dnId, groupName, enabled (those present). A disabled phone keeps its live allocation."""
    unknown = sorted(set(changes) - {"dnId", "groupName", "enabled"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}")
    dn_id = inputs.dn_id(changes.get("dnId"))
    group = inputs.group_name(changes["groupName"]) if "groupName" in changes else None
    enabled = inputs.enabled_flag(changes["enabled"]) if "enabled" in changes else None
    async with db.acquire() as conn, conn.transaction():
        row = await lock_phone_with_holder(conn, caller, phone)
        try:
            await conn.execute(
                query("update_phone"), row["phone_id"], caller.scope_id, "dnId" in changes, dn_id, group, enabled
            )
        except asyncpg.UniqueViolationError as error:
            if "holder" in (error.constraint_name or ""):
                raise InvalidInput("groupName: the interaction that holds this phone holds one in that group") from None
            raise DnIdExists(dn_id or "") from None
    return await get_phone(db, caller, row["phone_number"])


async def delete_phone(db: asyncpg.Pool, caller: Caller, phone: str, force: bool) -> None:
    """Remove a phone; a live allocation refuses it unless forced, which ends it as 'deleted'."""
    async with transaction(db, caller.tenant_id) as tx:
        row = await lock_phone_with_holder(tx.conn, caller, phone)
        if row["held"]:
            if row["live"] and not force:
                raise PhoneAllocated(phone)
            await tx.end_phone_allocation(row["phone_id"], row["allocated_at"], "deleted")
        await tx.conn.execute(query("delete_phone"), row["phone_id"])
