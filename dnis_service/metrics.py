"""The Prometheus collectors (docs/operations.md lists them), on a registry of the service's own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The *_created series only add noise for a service that restarts with every deploy.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

ALLOCATIONS = Counter(
    "dnis_allocations", "Allocations made (phones and DTMF codes).", ["tenant", "group", "kind"], registry=REGISTRY
)
ALLOCATION_FAILURES = Counter(
    "dnis_allocation_failures", "Allocation requests refused.", ["tenant", "group", "reason"], registry=REGISTRY
)
RELEASES = Counter(
    "dnis_releases", "Allocations ended, by why they ended.", ["tenant", "kind", "reason"], registry=REGISTRY
)
HOLD_SECONDS = Histogram(
    "dnis_allocation_hold_seconds", "Time from allocation to release.", ["tenant", "kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200), registry=REGISTRY,
)
LOOKUPS = Counter("dnis_lookups", "Lookups of an interaction id.", ["attribute", "result"], registry=REGISTRY)
SWEEP_SECONDS = Histogram(
    "dnis_sweep_duration_seconds", "Duration of one run of the release job.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY,
)
SOAP_CALLS = Counter(
    "dnis_soap_requests", "SOAP requests by endpoint, operation and outcome.", ["endpoint", "operation", "outcome"],
    registry=REGISTRY,
)
SMS_ATTEMPTS = Counter(
    "dnis_sms_delivery_attempts", "Hand-overs of queued SMS to providers, by outcome.", ["outcome"], registry=REGISTRY
)
SMS_PENDING = Gauge(
    "dnis_sms_outbox_pending", "Queued SMS not yet delivered (nor refused by the provider).", registry=REGISTRY
)
PASSWORD_KDF_RUNS = Counter(
    "dnis_password_kdf_runs", "Runs of the password KDF (scrypt), to verify or to hash a password.", ["purpose"],
    registry=REGISTRY,
)
PASSWORD_REFUSALS = Counter(
    "dnis_password_checks_refused", "Password checks refused without running the KDF: the user's recent failures "
    "(throttled) or a full KDF pool (busy).", ["reason"], registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "dnis_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=REGISTRY
)
HTTP_SECONDS = Histogram(
    "dnis_http_request_duration_seconds", "HTTP request duration.", ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY,
)


@dataclass(frozen=True)
class PoolCount:
    tenant: str
    environment: str
    group: str
    free: int
    allocated: int
    disabled: int


class _Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


@dataclass(frozen=True)
class Release:
    tenant: str
    kind: str
    reason: str
    held_seconds: float

    @classmethod
    def of(cls, tenant: str, ended: _Row) -> Release:
        """From a row of end_allocation() or the release batch (kind, end_reason, held_seconds)."""
        return cls(tenant, ended["kind"], ended["end_reason"], ended["held_seconds"])


class PoolGauge(Collector):
    """dnis_pool_phones from the last snapshot the gauge job took: a scrape never queries."""

    def __init__(self) -> None:
        self._snapshot: tuple[PoolCount, ...] = ()

    def update(self, counts: Iterable[PoolCount]) -> None:
        self._snapshot = tuple(counts)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "dnis_pool_phones", "Phones in the pool by state.", labels=["tenant", "environment", "group", "state"]
        )
        for count in self._snapshot:
            labels = [count.tenant, count.environment, count.group]
            family.add_metric([*labels, "free"], count.free)
            family.add_metric([*labels, "allocated"], count.allocated)
            family.add_metric([*labels, "disabled"], count.disabled)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("dnis_pool_phones", "Phones in the pool by state.")


POOL_PHONES = PoolGauge()
REGISTRY.register(POOL_PHONES)


@dataclass(frozen=True)
class PoolSize:
    tenant: str
    environment: str
    group: str
    offered_load_erlangs: float
    recommended_phones: int


class PoolSizeGauges(Collector):
    """dnis_pool_offered_load_erlangs and dnis_pool_recommended_phones from the sizing job's last
    snapshot (a minute old at most): a scrape never queries."""

    _LOAD = ("dnis_pool_offered_load_erlangs", "Offered load of the busy hour of the last 7 days, in Erlangs.")
    _RECOMMENDED = ("dnis_pool_recommended_phones",
                    "Smallest pool that keeps Erlang B blocking at the offered load within the tenant's target.")

    def __init__(self) -> None:
        self._snapshot: tuple[PoolSize, ...] = ()

    def update(self, sizes: Iterable[PoolSize]) -> None:
        self._snapshot = tuple(sizes)

    def collect(self) -> Iterator[Metric]:
        labels = ["tenant", "environment", "group"]
        load = GaugeMetricFamily(*self._LOAD, labels=labels)
        recommended = GaugeMetricFamily(*self._RECOMMENDED, labels=labels)
        for size in self._snapshot:
            values = [size.tenant, size.environment, size.group]
            load.add_metric(values, size.offered_load_erlangs)
            recommended.add_metric(values, size.recommended_phones)
        yield load
        yield recommended

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(*self._LOAD)
        yield GaugeMetricFamily(*self._RECOMMENDED)


POOL_SIZES = PoolSizeGauges()
REGISTRY.register(POOL_SIZES)


# A collector's labelled child, kept: `labels()` checks and converts the values and takes a lock on
# every call, which every request paid (a few per cent of the service's CPU under load). Only
# str values are used as keys, so a child is the one `labels()` returns for them.
_children: dict[tuple[object, ...], Any] = {}


def _child(collector: Counter | Histogram, *labels: str) -> Any:
    key = (collector, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = collector.labels(*labels)
    return child


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request served (dnis_http_requests_total, dnis_http_request_duration_seconds)."""
    status_text = str(status)
    _child(HTTP_REQUESTS, method, route, status_text).inc()
    _child(HTTP_SECONDS, method, route, status_text).observe(seconds)


def allocation_made(tenant: str, group: str, kind: str) -> None:
    _child(ALLOCATIONS, tenant, group, kind).inc()


def allocation_refused(tenant: str, group: str, reason: str) -> None:
    ALLOCATION_FAILURES.labels(tenant, group, reason).inc()


def releases_made(releases: Iterable[Release]) -> None:
    for release in releases:
        _child(RELEASES, release.tenant, release.kind, release.reason).inc()
        _child(HOLD_SECONDS, release.tenant, release.kind).observe(max(release.held_seconds, 0.0))


def lookup_made(attribute: str, hit: bool) -> None:
    _child(LOOKUPS, attribute, "hit" if hit else "miss").inc()


def soap_call(endpoint: str, operation: str, outcome: str) -> None:
    SOAP_CALLS.labels(endpoint, operation, outcome).inc()


def sms_attempt(outcome: str) -> None:
    SMS_ATTEMPTS.labels(outcome).inc()


def password_kdf_run(purpose: str) -> None:
    PASSWORD_KDF_RUNS.labels(purpose).inc()


def password_refused(reason: str) -> None:
    PASSWORD_REFUSALS.labels(reason).inc()
