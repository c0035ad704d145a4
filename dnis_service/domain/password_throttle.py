"""Throttles password guessing per (tenant, user), across replicas: after MAX_FAILURES failed
attempts within WINDOW_SECONDS, further attempts are refused without running the KDF until the
oldest of them leaves the window (a sliding window, counted in PostgreSQL, migration 0007).

A check claims its attempt before the KDF runs, so that concurrent guesses (on any replica)
cannot overshoot the limit; a check that does not fail gives its own claim back, so a success
neither counts nor wipes out the failures of others.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dnis_service import metrics
from dnis_service.db.queries import query
from dnis_service.domain.errors import PasswordAttemptsThrottled

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt, to give back when it did not fail."""

    tenant_id: str
    user_digest: bytes
    claimed_at: datetime


def user_digest(user_id: str) -> bytes:
    return hashlib.sha256(user_id.encode()).digest()


async def claim(db: asyncpg.Pool, tenant_id: str, user_id: str) -> Attempt:
    """Count an attempt for (tenant, user), or PasswordAttemptsThrottled with the seconds to wait."""
    digest = user_digest(user_id)
    row = await db.fetchrow(query("claim_password_attempt"), tenant_id, digest, MAX_FAILURES, WINDOW_SECONDS)
    assert row is not None
    if row["claimed_at"] is None:
        metrics.password_refused("throttled")
        raise PasswordAttemptsThrottled(max(1, math.ceil(row["retry_after_seconds"])))
    return Attempt(tenant_id, digest, row["claimed_at"])


async def withdraw(db: asyncpg.Pool, attempt: Attempt) -> None:
    await db.execute(query("withdraw_password_attempt"), attempt.tenant_id, attempt.user_digest, attempt.claimed_at)


async def forget_old_attempts(db: asyncpg.Pool) -> int:
    """Delete the rows no attempt within the window needs; returns how many."""
    status = await db.execute(query("forget_old_password_attempts"), WINDOW_SECONDS)
    return int(status.split()[-1])
