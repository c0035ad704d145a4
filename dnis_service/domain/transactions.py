"""A database transaction that may end allocations, reporting what it ended once it has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
        """End an open allocation; the caller holds its phone's row lock, if it has a phone."""
        row = await self.conn.fetchrow(query("end_allocation"), allocation_id, reason)
        if row is not None:
            self.released.append(metrics.Release.of(self.tenant_id, row))


@asynccontextmanager
async def transaction(db: asyncpg.Pool, tenant_id: str) -> AsyncIterator[Transaction]:
    async with db.acquire() as conn, conn.transaction():
        tx = Transaction(conn, tenant_id)
        yield tx
    # Only a committed release counts; a rolled-back one never happened.
    metrics.releases_made(tx.released)
