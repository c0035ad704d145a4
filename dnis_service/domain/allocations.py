"""Lending phones to interactions: allocate, look up, extend, free, and the history."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dnis_service import metrics
from dnis_service.db.pool import Connection
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import (
    AllocatedToAnother,
    AllocationNotFound,
    InvalidInput,
    PhoneNotFound,
    PoolExhausted,
)
from dnis_service.domain.interactions import lookup_columns, save_user_data
from dnis_service.domain.transactions import transaction

log = logging.getLogger(__name__)

# Reads of a phone's holder before freeing it: it can change hands between the read and the end
# only so many times in a row.
_ATTEMPTS = 5


@dataclass(frozen=True)
class Limits:
    """Service-wide settings the rules need: timeouts where the tenant sets none, retention."""

    default_timeout_seconds: int = 300
    max_timeout_seconds: int = 3600
    retention_days: int = 30


@dataclass(frozen=True)
class Allocation:
    unique_id: str
    group: str
    allocated_at: datetime
    expires_at: datetime
    phone_number: str | None = None
    dn_id: str | None = None
    dtmf_code: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    unique_id: str
    group: str
    allocated_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None


def timeout_seconds(requested: object, caller: Caller, limits: Limits) -> int:
    """The request's timeout, else the tenant's default, clamped to the tenant's maximum."""
    maximum = caller.policy.max_timeout_seconds or limits.max_timeout_seconds
    if requested is None:
        return min(caller.policy.default_timeout_seconds or limits.default_timeout_seconds, maximum)
    return min(inputs.integer(requested, "timeoutSeconds"), maximum)


@contextmanager
def counting_invalid(caller: Caller) -> Iterator[None]:
    """Count an allocation request refused for its input (dnis_allocation_failures_total)."""
    try:
        yield
    except InvalidInput:
        metrics.allocation_refused(caller.tenant_id, "", "invalid")
        raise


def phone_reference(phone: str) -> tuple[str | None, str]:
    """A {phone} path value as (canonical phoneNumber or None, dnId)."""
    return inputs.canonical_phone(phone), phone


async def allocate_phone(
    db: asyncpg.Pool, caller: Caller, limits: Limits, unique_id: object, group: object, timeout: object,
    attributes: Mapping[str, object] | None = None,
) -> Allocation:
    """Allocate a phone; `attributes` (historySearchId, callReturnNumber) go to the interaction."""
    with counting_invalid(caller):
        uid = inputs.unique_id(unique_id)
        wanted_group = None if group is None else inputs.group_name(group, "group")
        seconds = timeout_seconds(timeout, caller, limits)
        lookup_columns(attributes or {})
    args = (caller.scope_id, uid, wanted_group, float(caller.policy.quarantine_seconds), float(seconds))
    if attributes:
        # The attributes go to the interaction's row, in the allocation's transaction once it has a
        # phone: a refusal keeps nothing but its count.
        async with transaction(db, caller.tenant_id) as tx:
            rows = await tx.conn.fetch(query("allocate_phone"), *args)
            if any(r["outcome"] != "ended" for r in rows):
                user_data = await tx.open_interaction(caller.scope_id, uid)
                await save_user_data(tx.conn, caller, uid, {**user_data, **attributes})
    else:
        rows = await db.fetch(query("allocate_phone"), *args)
    metrics.releases_made([metrics.Release(caller.tenant_id, "phone", r["end_reason"], r["held_seconds"])
                           for r in rows if r["outcome"] == "ended"])
    row = next((r for r in rows if r["outcome"] != "ended"), None)
    if row is None:
        metrics.allocation_refused(caller.tenant_id, wanted_group or "", "exhausted")
        raise PoolExhausted()
    allocation = Allocation(
        unique_id=uid, group=row["group_name"], allocated_at=row["allocated_at"], expires_at=row["expires_at"],
        phone_number=row["phone_number"], dn_id=row["dn_id"],
    )
    if row["outcome"] == "new":
        metrics.allocation_made(caller.tenant_id, allocation.group, "phone")
        log.info("allocated tenant=%s env=%s phone=%s interaction=%r expires=%s", caller.tenant_id,
                 caller.environment, allocation.phone_number, uid, allocation.expires_at.isoformat())
    return allocation


async def find_phone(db: asyncpg.Pool, caller: Caller, phone: str) -> asyncpg.Record | None:
    """The phone named by {phone} (number or dnId) with its holder's row (phone_with_holder)."""
    return await db.fetchrow(query("phone_with_holder"), caller.scope_id, *phone_reference(phone))


async def phone_holder(db: asyncpg.Pool, caller: Caller, phone: str) -> str | None:
    """The id of the interaction holding the phone now; None when it is free."""
    row = await find_phone(db, caller, phone)
    if row is None:
        metrics.lookup_made("clickToCall", hit=False)
        raise PhoneNotFound(phone)
    metrics.lookup_made("clickToCall", hit=row["live"])
    return row["unique_id"] if row["live"] else None


async def free_phone(db: asyncpg.Pool, caller: Caller, phone: str, only_for: str | None = None) -> bool:
    """End the phone's allocation, if any; with only_for, only if that interaction holds it.

    Returns whether a live allocation was ended.
    """
    for _ in range(_ATTEMPTS):
        row = await db.fetchrow(query("free_phone"), caller.scope_id, *phone_reference(phone), only_for)
        if row is None:
            raise PhoneNotFound(phone)
        if row["permitted"] and row["end_reason"] is None:
            continue  # it changed hands after the statement began: run it again, with a newer snapshot
        break
    else:
        raise RuntimeError(f"phone {phone!r} kept changing hands while being freed")
    if not row["held"]:
        return False
    if not row["permitted"]:
        raise AllocatedToAnother(phone)
    metrics.releases_made([metrics.Release.of(caller.tenant_id, row)])
    log.info("freed tenant=%s env=%s phone=%s interaction=%r", caller.tenant_id, caller.environment,
             row["phone_number"], row["unique_id"])
    live: bool = row["live"]
    return live


async def extend_phone(
    db: asyncpg.Pool, caller: Caller, limits: Limits, phone: str, unique_id: object, timeout: object
) -> Allocation:
    uid = inputs.unique_id(unique_id)
    seconds = timeout_seconds(timeout, caller, limits)
    # The phone's row is locked before the clock is read: after waiting for whoever held it (an
    # operator changing the phone, say), an allocation that expired meanwhile is found expired.
    async with db.acquire() as conn, conn.transaction():
        row = await lock_phone_with_holder(conn, caller, phone)
        if not row["live"] or row["unique_id"] != uid:
            raise AllocationNotFound(phone, uid)
        times = await conn.fetchrow(query("extend_allocation"), row["phone_id"], row["allocated_at"], float(seconds))
    if times is None:  # it expired while this waited for the row
        raise AllocationNotFound(phone, uid)
    return Allocation(
        unique_id=uid, group=row["group_name"], allocated_at=times["allocated_at"],
        expires_at=times["expires_at"], phone_number=row["phone_number"], dn_id=row["dn_id"],
    )


async def lock_phone_with_holder(conn: Connection, caller: Caller, phone: str) -> asyncpg.Record:
    """find_phone, holding the phone's row lock until the transaction ends."""
    row = await conn.fetchrow(query("phone_with_holder_for_update"), caller.scope_id, *phone_reference(phone))
    if row is None:
        raise PhoneNotFound(phone)
    return row


async def phone_history(
    db: asyncpg.Pool, caller: Caller, phone: str, at: datetime | None, limit: int = 100
) -> list[HistoryEntry]:
    """Who held the phone at `at` (or its latest allocations), from the history."""
    row = await find_phone(db, caller, phone)
    number = row["phone_number"] if row is not None else inputs.canonical_phone(phone)
    if number is None:
        raise PhoneNotFound(phone)
    if at is None:
        rows = await db.fetch(query("phone_history_recent"), caller.scope_id, number, limit)
    else:
        rows = await db.fetch(query("phone_history_at"), caller.scope_id, number, at)
    if row is None and not rows:
        raise PhoneNotFound(phone)
    return [
        HistoryEntry(r["unique_id"], r["group_name"], r["allocated_at"], r["expires_at"], r["ended_at"],
                     r["end_reason"])
        for r in rows
    ]
