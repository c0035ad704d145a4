"""The invariants of the allocation tables (tests/invariants.sql), checked after every test."""

from __future__ import annotations

from pathlib import Path

import asyncpg

INVARIANTS = (Path(__file__).with_name("invariants.sql")).read_text()


async def invariant_violations(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """One line per violation; empty when the database is consistent."""
    return [f"{row['problem']}: {row['subject']}" for row in await conn.fetch(INVARIANTS)]
