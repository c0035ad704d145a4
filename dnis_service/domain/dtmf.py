"""DTMF codes ("Direct Dial with DTMF Code"): random codes lent to interactions like phones."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping

import asyncpg

from dnis_service import metrics
from dnis_service.db.pool import Connection
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.allocations import (
    Allocation,
    Limits,
    counting_invalid,
    timeout_seconds,
)
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import AllocatedToAnother, DtmfCodeNotFound, InvalidInput, PoolExhausted
from dnis_service.domain.interactions import lookup_columns, save_user_data
from dnis_service.domain.transactions import Transaction, transaction

log = logging.getLogger(__name__)

MIN_DIGITS, MAX_DIGITS = 4, 8
_CODE = re.compile(rf"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}")
# Random draws before giving up: with the scope's live codes filling a small fraction of the
# code space, a free code comes within a few draws.
_DRAWS = 20


def code_digits(requested: object, caller: Caller) -> int:
    if requested is None:
        return caller.policy.dtmf_digits
    return inputs.integer(requested, "digits", MIN_DIGITS, MAX_DIGITS)


async def allocate_code(
    db: asyncpg.Pool, caller: Caller, limits: Limits, unique_id: object, digits: object, timeout: object,
    attributes: Mapping[str, object] | None = None,
) -> Allocation:
    with counting_invalid(caller):
        uid = inputs.unique_id(unique_id)
        length = code_digits(digits, caller)
        seconds = timeout_seconds(timeout, caller, limits)
        lookup_columns(attributes or {})
    async with transaction(db, caller.tenant_id) as tx:
        held = await _live_code_of(tx, caller, uid, attributes or {})
        allocation = held or await _draw_code(tx.conn, caller, uid, length, seconds)
    if allocation is None:
        metrics.allocation_refused(caller.tenant_id, "", "exhausted")
        raise PoolExhausted()
    if held is None:
        metrics.allocation_made(caller.tenant_id, "", "dtmf")
        log.info("allocated tenant=%s env=%s code=%s interaction=%r expires=%s", caller.tenant_id,
                 caller.environment, allocation.dtmf_code, uid, allocation.expires_at.isoformat())
    return allocation


async def _live_code_of(
    tx: Transaction, caller: Caller, uid: str, attributes: Mapping[str, object]
) -> Allocation | None:
    """The interaction's live code, ending its expired ones.

    Takes the interaction's locks first (its id, then its row, created if need be), so that
    concurrent requests for one id queue here, and records the attributes sent with the allocation
    in the interaction's user data.
    """
    user_data = await tx.open_interaction(caller.scope_id, uid)
    if attributes:
        await save_user_data(tx.conn, caller, uid, {**user_data, **attributes})
    live = None
    for row in await tx.conn.fetch(query("open_code_allocations_of_interaction"), caller.scope_id, uid):
        if row["expired"]:
            await tx.end_allocation(row["allocation_id"], "expired")
        elif live is None:
            live = Allocation(
                unique_id=uid, group="", allocated_at=row["allocated_at"], expires_at=row["expires_at"],
                dtmf_code=row["dtmf_code"],
            )
    return live


async def _draw_code(conn: Connection, caller: Caller, uid: str, length: int, seconds: int) -> Allocation | None:
    for _ in range(_DRAWS):
        code = "".join(secrets.choice("0123456789") for _ in range(length))
        try:
            async with conn.transaction():
                await conn.execute(query("end_expired_code"), caller.scope_id, code)
                allocation_id = await conn.fetchval(
                    query("insert_code_allocation"), caller.scope_id, code, uid, float(seconds))
        except asyncpg.UniqueViolationError:
            continue  # the code is live for another interaction: draw again
        row = await conn.fetchrow(query("start_code_allocation"), allocation_id, float(seconds))
        assert row is not None
        return Allocation(
            unique_id=uid, group="", allocated_at=row["allocated_at"], expires_at=row["expires_at"], dtmf_code=code
        )
    return None


def _code(raw: str) -> str:
    if not _CODE.fullmatch(raw):
        raise InvalidInput(f"code: must be {MIN_DIGITS} to {MAX_DIGITS} digits")
    return raw


async def free_code(db: asyncpg.Pool, caller: Caller, code: str, only_for: str | None = None) -> None:
    """End the code's allocation, if any; 404 for a code this scope never handed out."""
    code = _code(code)
    async with transaction(db, caller.tenant_id) as tx:
        row = await tx.conn.fetchrow(query("open_code_allocation"), caller.scope_id, code)
        if row is None:
            if not await tx.conn.fetchval(query("code_was_allocated"), caller.scope_id, code):
                raise DtmfCodeNotFound(code)
            return
        if only_for is not None and row["live"] and row["unique_id"] != only_for:
            raise AllocatedToAnother(code, what="DTMF code")
        await tx.end_allocation(row["allocation_id"], "freed")
    log.info("freed tenant=%s env=%s code=%s interaction=%r", caller.tenant_id, caller.environment, code,
             row["unique_id"])
