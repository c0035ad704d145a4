"""A per-process cache of who a key (and user) is, emptied whenever credentials change anywhere.

Every request authenticates; without the cache that is one query per request. Migration 0005
makes each change to tenants, scopes, applications or users notify the channel below when it
commits; every replica listens on a connection of its own and empties its cache on a
notification, so a revoked key or a deleted user is refused within milliseconds on every replica.
The cache answers only while that connection is up (a notification could be missed otherwise),
and an entry is kept at most `seconds`: the bound on staleness should the connection die without
anyone noticing, until the next ping finds out. The ping runs every second and also asks whether
the server still takes writes: after a failover, notifications come from the new primary, so a
listener left on a hung or demoted old one stops the cache's answers within about two seconds,
and the next connection goes to the new primary (db/servers.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

import asyncpg

from dnis_service.db.pool import HUNG_SERVER_SECONDS, DeadlinePool
from dnis_service.db.queries import query

log = logging.getLogger(__name__)

CHANNEL = "dnis_credentials"
LISTENER_NAME = "dnis-service credential listener"  # its application_name in pg_stat_activity
_SIZE = 10_000
_PING_SECONDS = 1.0
_RECONNECT_SECONDS = 1.0


class CredentialCache:
    def __init__(self, seconds: float, size: int = _SIZE) -> None:
        self._seconds = seconds
        self._size = size
        self._entries: OrderedDict[tuple[bytes, str | None], tuple[float, asyncpg.Record]] = OrderedDict()
        # Bumped on every clear: a row read before a change must not be stored after it.
        self._generation = 0
        self.listening = False

    async def lookup(self, db: asyncpg.Pool, key_digest: bytes, user_id: str | None) -> asyncpg.Record | None:
        """The `authenticate` row of the key (and user), from the cache when it may answer."""
        key = (key_digest, user_id)
        now = time.monotonic()
        if self.listening:
            cached = self._entries.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        generation = self._generation
        row: asyncpg.Record | None = await db.fetchrow(query("authenticate"), key_digest, user_id)
        if row is not None and self.listening and generation == self._generation:
            self._entries[key] = (now + self._seconds, row)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return row

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def listen(self, db: DeadlinePool) -> None:
        """Keep a listening connection for as long as the service runs (cancel to stop)."""
        while True:
            try:
                await self._listen_once(db)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("credential notifications lost error=%s: %s", type(error).__name__, error)
            await asyncio.sleep(_RECONNECT_SECONDS)

    async def _listen_once(self, db: DeadlinePool) -> None:
        # Opened and bounded like the pool's connections: its LISTEN and pings give up after the
        # statement timeout, so a hung server ends the cache's answers, not the listener.
        conn = await db.dedicated_connection(LISTENER_NAME)
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _: closed.set())
        try:
            await conn.add_listener(CHANNEL, lambda *_: self.clear())
            self.clear()  # whatever changed while nobody listened
            self.listening = True
            log.info("credential cache on seconds=%s", self._seconds)
            while not closed.is_set():
                try:
                    await asyncio.wait_for(closed.wait(), _PING_SECONDS)
                except TimeoutError:
                    if not await conn.fetchval(query("listener_ping"), timeout=HUNG_SERVER_SECONDS):
                        raise ConnectionResetError("the listening connection's server is read-only") from None
            raise ConnectionResetError("the listening connection closed")
        finally:
            self.listening = False
            self.clear()
            conn.terminate()
