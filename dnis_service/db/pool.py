"""The asyncpg connection pool and how its connections are set up."""

from __future__ import annotations

import json

import asyncpg
import asyncpg.pool

CONNECT_TIMEOUT_SECONDS = 5.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The service leaves no session state on a pooled connection (no SET, LISTEN or session
    advisory lock; transactions are always closed), so the default reset query, a round trip on
    every release, buys nothing."""


async def create_pool(
    url: str, min_size: int = 2, max_size: int = 10, statement_timeout_seconds: float = 5.0
) -> asyncpg.Pool:
    """A pool whose statements give up after statement_timeout_seconds, so that a stuck or
    unreachable database turns into a prompt 503 rather than a hanging request."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_nothing_to_reset,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=statement_timeout_seconds,
    )
    assert pool is not None
    return pool


# What domain functions accept: a plain connection or one borrowed from the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
