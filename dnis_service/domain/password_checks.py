"""Checking a user's password: the cache of successes first, then the throttle, then the KDF on its
thread pool. Concurrent checks of the same credentials share one KDF run, so that a burst of
requests from one client (a fresh replica, an expired cache entry) costs one claim and one hash."""

from __future__ import annotations

import asyncio

import asyncpg

from dnis_service.domain import password_throttle
from dnis_service.domain.passwords import KDF_POOL, VerificationCache, password_digest, password_matches

# (tenant, user, stored hash, digest of the password tried)
_CheckKey = tuple[str, str, str | None, bytes]


class PasswordChecker:
    def __init__(self, cache: VerificationCache | None = None) -> None:
        self._cache = cache or VerificationCache()
        self._running: dict[_CheckKey, asyncio.Task[bool]] = {}

    async def matches(self, db: asyncpg.Pool, tenant_id: str, user_id: str, password: str,
                      stored: str | None) -> bool:
        """Whether the password is the user's (stored: the user's hash, None for an unknown user).

        A password the cache vouches for passes without the KDF, also while the user is throttled:
        it proves nothing a guesser does not already know. Anything else is PasswordAttemptsThrottled
        after too many failures, or PasswordChecksBusy when the KDF pool is full."""
        if stored is not None and self._cache.knows(password, stored):
            return True
        key = (tenant_id, user_id, stored, password_digest(password))
        check = self._running.get(key)
        if check is None:
            check = asyncio.create_task(self._check(db, tenant_id, user_id, password, stored))
            self._running[key] = check
            check.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a caller that goes away does not cancel the check the others wait for.
        return await asyncio.shield(check)

    def _finished(self, key: _CheckKey, done: asyncio.Task[bool]) -> None:
        del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every caller has gone

    async def _check(self, db: asyncpg.Pool, tenant_id: str, user_id: str, password: str,
                     stored: str | None) -> bool:
        attempt = await password_throttle.claim(db, tenant_id, user_id)
        failed = False
        try:
            matched = await KDF_POOL.run(password_matches, password, stored)
            failed = not matched
        finally:
            if not failed:  # a success, or no verdict (pool full): not a failure to count
                await password_throttle.withdraw(db, attempt)
        if matched and stored is not None:
            self._cache.remember(password, stored)
        return matched
