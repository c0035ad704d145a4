"""Interactions (the vendor's interactions API mapped to this service): user data, Complete and Cancel."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from dnis_service.db.pool import Connection
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import InteractionExists, InteractionNotFound, InvalidInput, UnsupportedOperation
from dnis_service.domain.transactions import transaction

# The user-data keys that feed the uniqueId lookups.
HISTORY_SEARCH_ID = "historySearchId"
CALL_RETURN_NUMBER = "callReturnNumber"
AGENT_OPERATIONS = frozenset(
    {"Accept", "Reject", "PlaceInQueue", "PlaceInWorkbin", "GetWorkbinContent", "SingleStepTransfer", "Transfer"}
)
ENDING_OPERATIONS = {"Complete": "completed", "Cancel": "cancelled"}


@dataclass(frozen=True)
class Interaction:
    unique_id: str
    state: str
    user_data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    phone_number: str | None = None
    dtmf: str | None = None


def _user_data(raw: object) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("userData: must be an object")
    data = dict(raw)
    if len(json.dumps(data)) > 64 * 1024:
        raise InvalidInput("userData: must be at most 64 KiB of JSON")
    return data


def lookup_columns(user_data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The (historySearchId, canonical callReturnNumber) that lookups will find."""
    history = user_data.get(HISTORY_SEARCH_ID)
    if history is not None and (not isinstance(history, str) or not 1 <= len(history) <= 256):
        raise InvalidInput(f"userData.{HISTORY_SEARCH_ID}: must be a string of 1 to 256 characters")
    number = user_data.get(CALL_RETURN_NUMBER)
    call_return = None if number is None else inputs.phone_number(number, f"userData.{CALL_RETURN_NUMBER}")
    return history, call_return


async def save_user_data(conn: Connection, caller: Caller, uid: str, user_data: dict[str, Any]) -> None:
    await conn.execute(query("save_user_data"), caller.scope_id, uid, user_data, *lookup_columns(user_data))


async def create_interaction(db: asyncpg.Pool, caller: Caller, unique_id: object, user_data: object) -> str:
    uid = str(uuid.uuid4()) if unique_id is None else inputs.unique_id(unique_id, "uniqueId")
    data = _user_data(user_data)
    lookup_columns(data)
    async with db.acquire() as conn, conn.transaction():
        if await conn.fetchval(query("create_interaction"), caller.scope_id, uid, {}) is None:
            raise InteractionExists(uid)
        await save_user_data(conn, caller, uid, data)
    return uid


async def get_interaction(db: asyncpg.Pool, caller: Caller, uid: str) -> Interaction:
    row = await db.fetchrow(query("interaction_view"), caller.scope_id, uid)
    if row is None:
        raise InteractionNotFound(uid)
    return Interaction(
        unique_id=row["unique_id"], state=row["state"], user_data=row["user_data"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        phone_number=row["phone_number"], dtmf=row["dtmf"],
    )


def _cursor(row: asyncpg.Record) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["created_at"].isoformat(), row["unique_id"]]).encode()).decode()


def _parse_cursor(cursor: str | None) -> tuple[datetime | None, str | None]:
    if cursor is None:
        return None, None
    try:
        created, uid = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()), type=tuple[str, str])
        return inputs.moment(created, "after"), uid
    except (ValueError, msgspec.DecodeError, InvalidInput):
        raise InvalidInput("after: not a cursor this service gave") from None


async def list_interactions(
    db: asyncpg.Pool, caller: Caller, limit: int, after: str | None
) -> tuple[list[Interaction], str | None]:
    """The scope's active interactions, newest first, and the cursor of the next page."""
    rows = await db.fetch(query("list_active_interactions"), caller.scope_id, *_parse_cursor(after), limit)
    page = [Interaction(r["unique_id"], r["state"], r["user_data"], r["created_at"], r["updated_at"]) for r in rows]
    return page, (_cursor(rows[-1]) if len(rows) == limit else None)


async def apply_operation(
    db: asyncpg.Pool, caller: Caller, uid: str, operation: object, user_data: object
) -> str:
    """Run one operation on the interaction; returns 'user data' or 'ended' (the answer's shape)."""
    if operation in AGENT_OPERATIONS or not isinstance(operation, str) or (
        operation not in ENDING_OPERATIONS and operation not in ("AttachUserData", "UpdateUserData", "DeleteUserData")
    ):
        raise UnsupportedOperation(str(operation))
    async with transaction(db, caller.tenant_id) as tx:
        await tx.lock_interaction_id(caller.scope_id, uid)
        row = await tx.conn.fetchrow(query("lock_interaction"), caller.scope_id, uid)
        if row is None:
            # One that only borrows phones has no row yet: it gets one, to keep what this changes.
            row = await tx.conn.fetchrow(query("adopt_interaction"), caller.scope_id, uid)
        if row is None:
            raise InteractionNotFound(uid)
        if operation in ENDING_OPERATIONS:
            reason = ENDING_OPERATIONS[operation]
            await tx.end_allocations_of_interaction(caller.scope_id, uid, reason)
            await tx.conn.execute(query("end_interaction"), caller.scope_id, uid, reason)
            return "ended"
        changes = _user_data(user_data)
        current: dict[str, Any] = row["user_data"]
        if operation == "AttachUserData":
            merged = {**changes, **current}
        elif operation == "UpdateUserData":
            merged = {**current, **changes}
        else:
            merged = {k: v for k, v in current.items() if k not in changes}
        await save_user_data(tx.conn, caller, uid, merged)
        return "user data"
