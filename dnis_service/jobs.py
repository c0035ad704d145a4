"""APScheduler jobs: release expired allocations, deliver queued SMS, refresh the gauges, size the
pools, purge old history.

Every job is safe to run in any number of replicas at once: each works in short transactions
on rows it locks with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dnis_service import metrics
from dnis_service.config import Settings
from dnis_service.db.queries import query
from dnis_service.domain import password_throttle, sizing, sms

log = logging.getLogger(__name__)
# APScheduler logs each run of each job at INFO ("Running job", "executed successfully"), about
# three lines a second while nothing happens. Its warnings (a run missed) and errors still show,
# and a job's own failure is logged here (Jobs._every).
logging.getLogger("apscheduler").setLevel(logging.WARNING)

RELEASE_BATCH = 500
# A run stops after this many full batches, so one replica never holds the loop for long;
# the next run (a second later) continues.
RELEASE_MAX_BATCHES = 100
# Two batches in flight: while one waits for its commit, the other is being written. An expiry
# storm of 100,000 was released in 6.1 to 8.0 s with one sweeper, 4.6 and 4.9 s with two
# (bench/README.md).
RELEASE_SWEEPERS = 2
GAUGE_INTERVAL_SECONDS = 5.0
# Sizing reads a week of traffic: hourly rows, and the history of the last hour or two not rolled
# up yet. What it measures moves by the hour, so once a minute is plenty.
SIZING_INTERVAL_SECONDS = 60.0
PURGE_INTERVAL_SECONDS = 60.0
# Every allocation and every release leaves a dead version of a phone row, and the allocation
# query reads the free-phone index from its head, where those versions gather: a small pool
# under heavy traffic grows a dead version per second per phone and slows down until vacuumed,
# and autovacuum looks at each database once a minute by default (bench/README.md).
VACUUM_INTERVAL_SECONDS = 5.0
VACUUM_MIN_DEAD_ROWS = 5000
VACUUM_DEAD_SHARE = 0.1
VACUUM_TIMEOUT_SECONDS = 600.0
PURGE_BATCH = 5000
PURGE_MAX_BATCHES = 20
SMS_PROVIDER_TIMEOUT_SECONDS = 10.0


async def release_expired(
    db: asyncpg.Pool, batch: int = RELEASE_BATCH, max_batches: int = RELEASE_MAX_BATCHES,
    sweepers: int = RELEASE_SWEEPERS,
) -> int:
    """End expired phone allocations and DTMF codes, batch by batch, `sweepers` batches at a time;
    returns how many it ended."""
    total = 0
    for name in ("release_expired_phones", "release_expired_codes"):
        total += sum(await asyncio.gather(*(_sweep(db, name, batch, max_batches) for _ in range(sweepers))))
    return total


async def _sweep(db: asyncpg.Pool, name: str, batch: int, max_batches: int) -> int:
    """Batches of one query until one comes back short (SKIP LOCKED keeps sweepers apart)."""
    ended = 0
    for _ in range(max_batches):
        rows = await db.fetch(query(name), batch)
        metrics.releases_made(metrics.Release.of(r["tenant_id"], r) for r in rows)
        ended += len(rows)
        if len(rows) < batch:
            break
    return ended


async def vacuum_phones(db: asyncpg.Pool) -> bool:
    """VACUUM phones once its dead row versions pass VACUUM_MIN_DEAD_ROWS and VACUUM_DEAD_SHARE of
    its rows; returns whether it did."""
    versions = await db.fetchrow(query("phones_row_versions"))
    if versions is None or versions["dead"] < max(VACUUM_MIN_DEAD_ROWS, VACUUM_DEAD_SHARE * versions["live"]):
        return False
    await db.execute(query("vacuum_phones"), timeout=VACUUM_TIMEOUT_SECONDS)
    return True


async def refresh_gauges(db: asyncpg.Pool) -> None:
    """The pool gauges and the SMS outbox gauge, from the database, for scrapes to read."""
    metrics.SMS_PENDING.set(await sms.pending(db))
    rows = await db.fetch(query("pool_gauges"))
    metrics.POOL_PHONES.update(
        metrics.PoolCount(r["tenant_id"], r["environment"], r["group_name"], r["free"], r["allocated"], r["disabled"])
        for r in rows
    )


async def size_pools(db: asyncpg.Pool, retention_days: int) -> None:
    """Roll up the traffic of settled hours, then size every pool group for the sizing gauges."""
    await sizing.roll_up_traffic(db, retention_days)
    metrics.POOL_SIZES.update(
        metrics.PoolSize(g.tenant, g.environment, g.group, g.offered_load_erlangs, g.recommended_phones)
        for g in await sizing.all_pools_sizing(db)
        if g.offered_load_erlangs is not None and g.recommended_phones is not None
    )


async def purge_history(db: asyncpg.Pool, retention_days: int, batch: int = PURGE_BATCH) -> int:
    """Delete history, idle interactions and hourly traffic older than the retention period, in small
    batches so that allocations never wait behind a long delete."""
    purged = 0
    for name in ("purge_history", "purge_phone_history", "purge_interactions", "purge_pool_traffic"):
        for _ in range(PURGE_MAX_BATCHES):
            status = await db.execute(query(name), retention_days, batch)
            deleted = int(status.split()[-1])
            purged += deleted
            if deleted < batch:
                break
    return purged


class Jobs:
    """The scheduler of one process, started and stopped with the app's lifespan."""

    def __init__(self, db: asyncpg.Pool, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._scheduler = AsyncIOScheduler()
        self._running: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=SMS_PROVIDER_TIMEOUT_SECONDS)

    def start(self) -> None:
        self._every(self._settings.sweep_interval_seconds, "release expired", self._release)
        self._every(GAUGE_INTERVAL_SECONDS, "refresh gauges", lambda: refresh_gauges(self._db))
        self._every(self._settings.sweep_interval_seconds, "deliver sms", self._deliver_sms)
        self._every(SIZING_INTERVAL_SECONDS, "size pools", lambda: size_pools(self._db, self._settings.retention_days))
        self._every(PURGE_INTERVAL_SECONDS, "purge history", self._purge)
        self._every(VACUUM_INTERVAL_SECONDS, "vacuum phones", self._vacuum)
        self._scheduler.start()
        log.info("scheduler started sweep_interval=%ss", self._settings.sweep_interval_seconds)

    async def stop(self) -> None:
        """Stop scheduling, let the jobs already running finish, then shut the scheduler down.

        In that order: shutting APScheduler's asyncio executor down cancels the jobs it runs,
        and a delivery cancelled mid-batch would leave its messages leased for sms.LEASE_SECONDS.
        A job still running after the statement timeout (a VACUUM on a hung server) is cancelled.
        """
        if self._scheduler.running:
            self._scheduler.pause()
        if self._running:
            _, late = await asyncio.wait(self._running, timeout=self._settings.statement_timeout_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self._http.aclose()
        log.info("scheduler stopped")

    def _every(self, seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except Exception as error:  # a job must survive a database outage and try again
                log.warning("job failed job=%r error=%s: %s", name, type(error).__name__, error)
            finally:
                self._running.discard(task)

        self._scheduler.add_job(
            run, "interval", seconds=seconds, name=name, max_instances=1, coalesce=True, misfire_grace_time=None
        )

    async def _release(self) -> None:
        started = time.perf_counter()
        released = await release_expired(self._db)
        metrics.SWEEP_SECONDS.observe(time.perf_counter() - started)
        if released:
            log.info("released expired allocations count=%d", released)

    async def _deliver_sms(self) -> None:
        delivered = await sms.deliver_due(self._db, self._http, self._settings.sms_retry_base_seconds)
        if delivered:
            log.info("sms delivered count=%d", delivered)

    async def _vacuum(self) -> None:
        started = time.perf_counter()
        if await vacuum_phones(self._db):
            log.info("vacuumed phones seconds=%.3f", time.perf_counter() - started)

    async def _purge(self) -> None:
        purged = await purge_history(self._db, self._settings.retention_days)
        if purged:
            log.info("purged history rows=%d retention_days=%d", purged, self._settings.retention_days)
        await password_throttle.forget_old_attempts(self._db)
