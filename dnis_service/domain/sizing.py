"""Pool sizing: each pool group's traffic as measured, and Erlang B's answer to "how many numbers?".

A group's offered load is its busy hour's arrival rate (new phone allocations and refusals for want
of a phone, per hour) times the mean time a number is kept from others per allocation (its hold,
plus the tenant's quarantine), in Erlangs. Erlang B then gives the blocking its enabled phones
predict and the smallest size that keeps blocking at or under the tenant's target
(docs/operator.md). The busy hour is a clock hour (UTC); the current one counts at the rate of its
arrivals so far (pool_traffic in sql/queries/sizing.sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dnis_service.db.queries import query
from dnis_service.domain import erlang, inputs, tenants
from dnis_service.domain.auth import DEFAULT_ENVIRONMENT
from dnis_service.domain.errors import InvalidInput

DEFAULT_DAYS = 7
MAX_DAYS = 366
# The planner's bounds: Erlang B is exact well beyond them, and sizing 100,000 Erlangs walks about
# 100,000 steps of the recursion (tens of milliseconds).
MAX_OFFERED_LOAD = 100_000.0
MAX_PHONES = 1_000_000
MAX_RATE_OR_SECONDS = 1e9
# Hours rolled up per run of the sizing job: one run catches up two days of history (after an
# upgrade, or jobs stopped for a while); each hour is one short statement.
ROLLUP_HOURS_PER_RUN = 48


@dataclass(frozen=True)
class GroupSizing:
    """One pool group's traffic over the window and what Erlang B makes of it.

    mean_hold_seconds includes the quarantine, and counts an allocation still open as held so far;
    it, the offered load, the predicted blocking and the recommendation are None when arrivals came
    but no allocation was made in the window (nothing tells how long a number would be kept).
    observed_blocking is the busy hour's refused share.
    """

    tenant: str
    environment: str
    group: str
    phones: int
    busy_hour_start: datetime | None
    arrivals_per_hour: float
    mean_hold_seconds: float | None
    offered_load_erlangs: float | None
    predicted_blocking: float | None
    observed_blocking: float | None
    target_blocking: float
    recommended_phones: int | None


@dataclass(frozen=True)
class Plan:
    """The planner's answer: with target_blocking, phones is the smallest size that meets it."""

    offered_load: float
    phones: int
    blocking: float
    target_blocking: float | None = None


async def roll_up_traffic(db: asyncpg.Pool, retention_days: int, max_hours: int = ROLLUP_HOURS_PER_RUN) -> int:
    """Store the allocations of settled hours in pool_traffic_hours, oldest first; how many hours."""
    for rolled in range(max_hours):
        if await db.fetchval(query("roll_up_traffic_hour"), retention_days) is None:
            return rolled
    return max_hours


async def pool_sizing(
    db: asyncpg.Pool, tenant_id: str, environment: object = None, group: object = None, days: object = None
) -> list[GroupSizing]:
    """The tenant's groups (in one environment, or one group, if given) over the last `days`."""
    env = None if environment is None else str(environment)
    # Unknown tenant: 404; unknown environment: 400 naming it.
    await tenants.operator_caller(db, tenant_id, env or DEFAULT_ENVIRONMENT)
    wanted = None if group is None else inputs.group_name(group, "group")
    window = DEFAULT_DAYS if days is None else inputs.integer(days, "days", 1, MAX_DAYS)
    return await _measure(db, tenant_id, env, wanted, window)


async def all_pools_sizing(db: asyncpg.Pool) -> list[GroupSizing]:
    """Every tenant's groups over the default window, for the gauges."""
    return await _measure(db, None, None, None, DEFAULT_DAYS)


async def _measure(
    db: asyncpg.Pool, tenant_id: str | None, environment: str | None, group: str | None, days: int
) -> list[GroupSizing]:
    traffic = {(r["tenant_id"], r["environment"], r["group_name"]): r
               for r in await db.fetch(query("pool_traffic"), tenant_id, environment, group, days)}
    phones = {(r["tenant_id"], r["environment"], r["group_name"]): r
              for r in await db.fetch(query("enabled_phones"), tenant_id, environment, group)}
    return [_sizing(key, traffic.get(key), phones.get(key)) for key in sorted(traffic.keys() | phones.keys())]


def _sizing(
    key: tuple[str, str, str], traffic: asyncpg.Record | None, phones: asyncpg.Record | None
) -> GroupSizing:
    either = traffic if traffic is not None else phones
    assert either is not None  # the key came from one of them
    enabled = 0 if phones is None else int(phones["enabled"])
    target = float(either["target_blocking"])
    arrivals = 0 if traffic is None else int(traffic["arrivals"])
    rate = 0.0 if traffic is None else arrivals / traffic["observed_hours"]
    hold = None
    if traffic is not None and traffic["allocations"] > 0:
        hold = traffic["held_seconds"] / traffic["allocations"] + traffic["quarantine_seconds"]
    load = 0.0 if arrivals == 0 else None if hold is None else erlang.offered_load(rate, hold)
    return GroupSizing(
        tenant=key[0], environment=key[1], group=key[2], phones=enabled,
        busy_hour_start=None if traffic is None else traffic["busy_hour_start"],
        arrivals_per_hour=rate,
        mean_hold_seconds=hold,
        offered_load_erlangs=load,
        predicted_blocking=None if load is None else erlang.blocking(load, enabled),
        observed_blocking=None if traffic is None or arrivals == 0 else int(traffic["refusals"]) / arrivals,
        target_blocking=target,
        recommended_phones=None if load is None else erlang.phones_needed(load, target),
    )


def plan(
    offered_load: object = None, arrivals_per_hour: object = None, hold_seconds: object = None,
    phones: object = None, target_blocking: object = None,
) -> Plan:
    """Blocking of `phones` numbers, or the smallest size meeting `target_blocking`, under a load
    given as Erlangs or as arrivals per hour and seconds held."""
    load = _offered_load(offered_load, arrivals_per_hour, hold_seconds)
    if (phones is None) == (target_blocking is None):
        raise InvalidInput("phones, targetBlocking: give one of them")
    if phones is not None:
        size = inputs.integer(phones, "phones", 0, MAX_PHONES)
        return Plan(load, size, erlang.blocking(load, size))
    target = inputs.probability(target_blocking, "targetBlocking")
    size = erlang.phones_needed(load, target)
    return Plan(load, size, erlang.blocking(load, size), target)


def _offered_load(offered_load: object, arrivals_per_hour: object, hold_seconds: object) -> float:
    rate_form = (arrivals_per_hour, hold_seconds)
    if offered_load is not None:
        if rate_form != (None, None):
            raise InvalidInput("offeredLoad: give it, or arrivalsPerHour and holdSeconds, not both")
        return inputs.number(offered_load, "offeredLoad", 0, MAX_OFFERED_LOAD)
    if None in rate_form:
        raise InvalidInput("offeredLoad: required, or arrivalsPerHour and holdSeconds")
    load = erlang.offered_load(inputs.number(arrivals_per_hour, "arrivalsPerHour", 0, MAX_RATE_OR_SECONDS),
                               inputs.number(hold_seconds, "holdSeconds", 0, MAX_RATE_OR_SECONDS))
    if not load <= MAX_OFFERED_LOAD:
        raise InvalidInput(f"arrivalsPerHour * holdSeconds / 3600: must be at most {MAX_OFFERED_LOAD:g} Erlangs")
    return load

