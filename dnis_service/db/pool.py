"""The asyncpg connection pool: how its connections are opened and set up, and how each wait on the
database is bounded, so that a hung or unreachable server turns into a prompt 503 rather than a
hanging request.

Within a deadline (db/deadline.py; every HTTP request has one) the waits for a pool connection,
for a new connection and for each statement share it; outside one, each gets the statement
timeout. Giving a connection back never waits on the server. New connections go to the URL's
read-write server, found server by server (db/servers.py); a connection whose server turned
read-only (a primary fenced or demoted in a switchover) is dropped when it is given back.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import asyncpg.pool

from dnis_service.db import queries
from dnis_service.db.deadline import budget, remaining
from dnis_service.db.servers import Servers

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
# A healthy server acknowledges a cancelled statement, a ROLLBACK or a goodbye within milliseconds;
# one that takes longer than this is taken for hung, and the connection is dropped.
HUNG_SERVER_SECONDS = 1.0


def _bounded(timeout: float | None) -> float | None:
    """A statement's own timeout stands; else what is left of the deadline (None outside one: the
    connection's command_timeout)."""
    return remaining() if timeout is None else timeout


class DeadlineConnection(asyncpg.Connection):
    """A connection whose statements take their timeout from the deadline. Transactions send their
    BEGIN, COMMIT and ROLLBACK through execute(), so those are bounded too: a ROLLBACK after the
    deadline fails at once instead of waiting on a hung server."""

    # Set once a statement was refused because the server takes no writes any more.
    server_read_only = False

    @contextmanager
    def _noting_read_only_server(self) -> Iterator[None]:
        try:
            yield
        except asyncpg.exceptions.ReadOnlySQLTransactionError:
            self.server_read_only = True
            raise

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        with self._noting_read_only_server():
            return await super().execute(query, *args, timeout=_bounded(timeout))

    async def fetch(self, query: str, *args: object, timeout: float | None = None, record_class: Any = None) -> Any:
        with self._noting_read_only_server():
            return await super().fetch(query, *args, timeout=_bounded(timeout), record_class=record_class)

    async def fetchrow(self, query: str, *args: object, timeout: float | None = None, record_class: Any = None) -> Any:
        with self._noting_read_only_server():
            return await super().fetchrow(query, *args, timeout=_bounded(timeout), record_class=record_class)

    async def fetchval(self, query: str, *args: object, column: int = 0, timeout: float | None = None) -> Any:
        with self._noting_read_only_server():
            return await super().fetchval(query, *args, column=column, timeout=_bounded(timeout))

    async def copy_records_to_table(self, table_name: str, *, timeout: float | None = None, **options: Any) -> str:
        with self._noting_read_only_server():
            return await super().copy_records_to_table(table_name, timeout=_bounded(timeout), **options)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The service leaves no session state on a pooled connection (no SET, LISTEN or session
    advisory lock; transactions are always closed), so the default reset query, a round trip on
    every release, buys nothing."""


class DeadlinePool(asyncpg.Pool):
    """The pool of the service: see the module's docstring."""

    def __init__(self, url: str, min_size: int, max_size: int, statement_timeout_seconds: float) -> None:
        # The one place that opens connections, for the pool and for dedicated_connection().
        self.servers = Servers(url)
        super().__init__(
            min_size=min_size, max_size=max_size, max_queries=50_000, max_inactive_connection_lifetime=300.0,
            # The stubs want asyncpg.connect's signature; the pool passes only keyword options.
            connect=self.servers.connect,  # type: ignore[arg-type]
            init=_init_connection, reset=_nothing_to_reset, loop=None,
            connection_class=DeadlineConnection, record_class=asyncpg.Record,
            timeout=CONNECT_TIMEOUT_SECONDS, command_timeout=statement_timeout_seconds,
        )
        self.statement_timeout_seconds = statement_timeout_seconds
        self._releasing: set[asyncio.Task[None]] = set()

    def _schedule_min_size_maintenance(self) -> None:
        """asyncpg reopens the pool's floor of connections in a task started from whoever closed
        one, often a request: started in a context of its own, that task is not bound by the
        request's deadline, which would fail each of its attempts once passed."""
        contextvars.Context().run(super()._schedule_min_size_maintenance)  # type: ignore[misc]

    def acquire(self, *, timeout: float | None = None) -> asyncpg.pool.PoolAcquireContext:
        """Waiting for a connection, and for a new one to open, takes at most the deadline's budget."""
        return super().acquire(timeout=budget(self.statement_timeout_seconds) if timeout is None else timeout)

    async def release(self, connection: asyncpg.pool.PoolConnectionProxy, *, timeout: float | None = None) -> None:
        """Give a connection back without making its borrower wait on the server.

        A connection still in a transaction (whose ROLLBACK failed) or cancelling a statement it
        gave up on needs the server before it can be reused, and a hung server never answers: that
        part runs in the background, for HUNG_SERVER_SECONDS at most, after which the connection is
        dropped. Its task starts outside the borrower's deadline, which has passed.
        """
        con: DeadlineConnection | None = connection._con  # type: ignore[attr-defined]
        if con is not None and con.server_read_only:
            log.warning("database connection dropped: its server is read-only")
            con.terminate()  # which gives its place in the pool back
            return
        # asyncpg's own test, before a release, of a connection that is cancelling a statement.
        if con is None or not (con.is_in_transaction() or con._protocol._is_cancelling()):  # type: ignore[attr-defined]
            await super().release(connection, timeout=HUNG_SERVER_SECONDS)
            return
        task = asyncio.create_task(self._release_in_background(connection, con), context=contextvars.Context())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_in_background(
        self, connection: asyncpg.pool.PoolConnectionProxy, con: DeadlineConnection
    ) -> None:
        try:
            if con.is_in_transaction():
                # asyncpg's release would roll back too, but log an error about a transaction left open.
                await con.execute(queries.query("rollback"), timeout=HUNG_SERVER_SECONDS)
            await super().release(connection, timeout=HUNG_SERVER_SECONDS)
        except Exception as error:
            log.warning("database connection dropped: no answer within %ss error=%s",
                        HUNG_SERVER_SECONDS, type(error).__name__)
            con.terminate()  # which gives its place in the pool back

    async def close(self) -> None:
        """Close the connections gracefully, or drop them if the server does not answer in time."""
        try:
            await asyncio.wait_for(super().close(), 2 * HUNG_SERVER_SECONDS)
        except TimeoutError:  # asyncpg terminates the pool when its close() is cancelled
            log.warning("database pool dropped: no answer within %ss", 2 * HUNG_SERVER_SECONDS)

    async def dedicated_connection(self, application_name: str) -> DeadlineConnection:
        """A connection of its own outside the pool (the credential listener's), opened and
        bounded like the pool's."""
        connection: DeadlineConnection = await self.servers.connect(
            timeout=CONNECT_TIMEOUT_SECONDS, command_timeout=self.statement_timeout_seconds,
            connection_class=DeadlineConnection, server_settings={"application_name": application_name},
        )
        return connection


async def create_pool(
    url: str, min_size: int = 2, max_size: int = 10, statement_timeout_seconds: float = 5.0
) -> DeadlinePool:
    """The pool, with its first min_size connections open."""
    return await DeadlinePool(url, min_size, max_size, statement_timeout_seconds)


# What domain functions accept: a plain connection or one borrowed from the pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
