"""uniqueId lookups: which interaction a caller attribute leads to."""

from __future__ import annotations

from enum import StrEnum

import asyncpg

from dnis_service import metrics
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.allocations import find_phone
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import InvalidInput, UniqueIdNotFound


class Attribute(StrEnum):
    DTMF = "dtmf"
    CALL_RETURN = "callReturn"
    CLICK_TO_CALL = "clickToCall"
    HISTORY_SEARCH_ID = "historySearchId"

    @property
    def label(self) -> str:
        """How the not-found text names the attribute."""
        return _LABELS[self]


_LABELS = {
    Attribute.DTMF: "dtmf",
    Attribute.CALL_RETURN: "call return",
    Attribute.CLICK_TO_CALL: "click to call",
    Attribute.HISTORY_SEARCH_ID: "history search",
}
# Case-insensitive names, and the SOAP interface's "callerId" for click-to-call.
_NAMES = {a.value.lower(): a for a in Attribute} | {"callerid": Attribute.CLICK_TO_CALL}


def attribute(name: str) -> Attribute:
    found = _NAMES.get(name.strip().lower())
    if found is None:
        raise InvalidInput(f"attribute: must be one of {', '.join(a.value for a in Attribute)}")
    return found


async def _find(db: asyncpg.Pool, caller: Caller, attr: Attribute, value: str, retention_days: int) -> str | None:
    if attr is Attribute.CLICK_TO_CALL:
        row = await find_phone(db, caller, value)
        return row["unique_id"] if row is not None and row["live"] else None
    if attr is Attribute.DTMF:
        found: str | None = await db.fetchval(query("lookup_dtmf_code"), caller.scope_id, value.strip())
        return found
    if attr is Attribute.CALL_RETURN:
        number = inputs.canonical_phone(value)
        if number is None:
            return None
        return await db.fetchval(query("lookup_call_return_number"), caller.scope_id, number, retention_days)  # type: ignore[no-any-return]
    return await db.fetchval(query("lookup_history_search_id"), caller.scope_id, value, retention_days)  # type: ignore[no-any-return]


async def find_unique_id(db: asyncpg.Pool, caller: Caller, attribute_name: str, value: str, retention_days: int) -> str:
    """The interaction id the attribute's value leads to; UniqueIdNotFound otherwise."""
    attr = attribute(attribute_name)
    unique_id = await _find(db, caller, attr, value, retention_days)
    metrics.lookup_made(attr.value, hit=unique_id is not None)
    if unique_id is None:
        raise UniqueIdNotFound(attr.label, value)
    return unique_id
