"""A database transaction that may end allocations, reporting what it ended once it has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from dnis_service import metrics
from dnis_service.db.pool import Connection
from dnis_service.db.queries import query


class Transaction:
    """The connection of one transaction and the releases made in it."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.released: list[metrics.Release] = []

    async def end_allocation(self, allocation_id: int, reason: str) -> None:
        """End a DTMF code's open allocation."""
        self._count(await self.conn.fetch(query("end_allocation"), allocation_id, reason))

    async def end_phone_allocation(self, phone_id: int, allocated_at: datetime, reason: str) -> None:
        """End the phone's allocation that began at allocated_at, if it still holds the phone."""
        self._count(await self.conn.fetch(query("end_phone_allocation"), phone_id, allocated_at, reason))

    async def end_allocations_of_interaction(self, scope_id: int, unique_id: str, reason: str) -> None:
        """End every open allocation of the interaction, phones and code."""
        self._count(await self.conn.fetch(query("end_phones_of_interaction"), scope_id, unique_id, reason))
        self._count(await self.conn.fetch(query("end_codes_of_interaction"), scope_id, unique_id, reason))

    async def lock_interaction_id(self, scope_id: int, unique_id: str) -> None:
        """The lock every allocation of the interaction takes first (the lock order: the id, the
        interaction's row, then phone rows)."""
        await self.conn.execute(query("lock_interaction_id"), scope_id, unique_id)

    async def open_interaction(self, scope_id: int, unique_id: str) -> dict[str, Any]:
        """Lock the interaction (its id, then its row, created if need be); its user data."""
        await self.lock_interaction_id(scope_id, unique_id)
        user_data: dict[str, Any] = await self.conn.fetchval(query("touch_interaction"), scope_id, unique_id)
        return user_data

    def _count(self, ended: list[asyncpg.Record]) -> None:
        self.released += [metrics.Release.of(self.tenant_id, row) for row in ended]


@asynccontextmanager
async def transaction(db: asyncpg.Pool, tenant_id: str) -> AsyncIterator[Transaction]:
    async with db.acquire() as conn, conn.transaction():
        tx = Transaction(conn, tenant_id)
        yield tx
    # Only a committed release counts; a rolled-back one never happened.
    metrics.releases_made(tx.released)
