"""Allocate → get → free cycles: the service over HTTP against the same SQL sent straight through
asyncpg (the baseline), by the same number of concurrent clients, in one run.

    .venv/bin/python bench/cycles.py --clients 16 64 --seconds 10 --rounds 3 [--phones 1000] [--tenants 1]

It starts a PostgreSQL (embedded, in a temporary directory; or DNIS_BENCH_DATABASE_URL), loads
`--phones` phones spread over `--tenants` tenants, starts `dnis-service serve` as production runs
it (its own process, default settings; DNIS_* variables in the environment override them), and
drives the cycles from separate load processes: wrk (needs Debian's `wrk`) for the service,
asyncpg clients for the baseline. Printed: cycles/s of the service and of the baseline and their
ratio, p50/p95/p99 per operation, 403s and errors, CPU per cycle of each process group, and the
service's resident memory. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dnis_service.db.embedded import start_embedded, stop_embedded  # noqa: E402
from dnis_service.db.migrations import migrate  # noqa: E402
from dnis_service.db.pool import create_pool  # noqa: E402
from dnis_service.domain import allocations, tenants  # noqa: E402
from dnis_service.domain.allocations import Limits  # noqa: E402
from tests.conftest import Tenant, make_tenant  # noqa: E402
from tests.service_process import ServiceProcess  # noqa: E402

LOAD_PROCESSES = 2
DNIS = "/interact/version/2/dnis"
OPERATIONS = ("allocate", "get", "free")


@dataclass
class Tally:
    cycles: int = 0
    exhausted: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0  # of the load generator itself
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})

    def merge(self, other: Tally) -> None:
        self.cycles += other.cycles
        self.exhausted += other.exhausted
        self.errors += other.errors
        self.cpu_seconds += other.cpu_seconds
        for op in OPERATIONS:
            self.latencies[op] += other.latencies[op]


async def _timed(tally: Tally, op: str, call: Awaitable[object]) -> object:
    started = time.perf_counter()
    result = await call
    tally.latencies[op].append((time.perf_counter() - started) * 1000)
    return result


async def _run_clients(clients: int, seconds: float, cycle: Callable[[int, int, Tally], Awaitable[None]]) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        step = 0
        while time.monotonic() < deadline:
            step += 1
            await cycle(n, step, tally)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return tally


def http_load(url: str, tenant: Tenant, prefix: str, clients: int, seconds: float) -> Tally:
    """The cycles through the service's HTTP API, from wrk (C, one connection per thread, so that
    the load generator takes little of the CPU it shares with the service on a small machine)."""
    with tempfile.NamedTemporaryFile("r", prefix="dnis-wrk-", suffix=".txt") as out:
        headers = ["|".join(f"{k}: {v}" for k, v in h.items()) for h in (tenant.web, tenant.dnis, tenant.dnis_user)]
        wrk = subprocess.Popen(
            ["wrk", f"-t{clients}", f"-c{clients}", f"-d{round(seconds)}s", "-s", str(ROOT / "bench" / "cycle.lua"),
             url, "--", *headers, prefix],
            env={**os.environ, "DNIS_BENCH_WRK_OUT": out.name}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        assert wrk.stdout is not None
        said = wrk.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(wrk.pid, 0)
        wrk.returncode = os.waitstatus_to_exitcode(status)
        if wrk.returncode:
            raise RuntimeError(f"wrk exited {wrk.returncode}: {said}")
        tally = Tally(cpu_seconds=usage.ru_utime + usage.ru_stime)
        op_before = None
        for line in out:
            op, status_text, ms = line.split()
            code = int(status_text)
            tally.latencies[op].append(float(ms))
            if op == "allocate" and code == 403:
                tally.exhausted += 1
            elif code != 200:
                tally.errors += 1
            elif op == "free" and op_before == "get":
                tally.cycles += 1
            op_before = op
    return tally


async def _sql_load(db_url: str, tenant_id: str, prefix: str, clients: int, seconds: float) -> Tally:
    pool = await create_pool(db_url, min_size=clients, max_size=clients)  # the service's own pool setup
    caller = await tenants.operator_caller(pool, tenant_id)
    limits = Limits()
    try:
        async def cycle(n: int, step: int, tally: Tally) -> None:
            try:
                allocation = await _timed(tally, "allocate", allocations.allocate_phone(
                    pool, caller, limits, f"{prefix}-{n}-{step}", None, None))
            except allocations.PoolExhausted:
                tally.exhausted += 1
                return
            assert isinstance(allocation, allocations.Allocation) and allocation.phone_number
            await _timed(tally, "get", allocations.phone_holder(pool, caller, allocation.phone_number))
            await _timed(tally, "free", allocations.free_phone(pool, caller, allocation.phone_number))
            tally.cycles += 1

        return await _run_clients(clients, seconds, cycle)
    finally:
        await pool.close()


def _sql_load_process(db_url: str, tenant: Tenant, prefix: str, clients: int, seconds: float,
                      out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    tally = asyncio.run(_sql_load(db_url, tenant.tenant_id, prefix, clients, seconds))
    tally.cpu_seconds = time.process_time()
    out.put(tally)


def sql_load(db_url: str, tenant: Tenant, prefix: str, clients: int, seconds: float) -> Tally:
    """Run `clients` concurrent cycle loops straight through asyncpg, split over separate load
    processes (one Python process alone would be the bottleneck, not PostgreSQL)."""
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    share = [clients // LOAD_PROCESSES + (1 if i < clients % LOAD_PROCESSES else 0) for i in range(LOAD_PROCESSES)]
    workers = [multiprocessing.Process(target=_sql_load_process,
                                       args=(db_url, tenant, f"{prefix}p{i}", n, seconds, out))
               for i, n in enumerate(share) if n]
    for worker in workers:
        worker.start()
    total = Tally()
    for _ in workers:
        total.merge(out.get(timeout=seconds + 120))
    for worker in workers:
        worker.join()
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def prepare(db_url: str, phones: int, tenant_count: int) -> Tenant:
    """Phones spread over tenants; the benchmark drives the first tenant."""
    conn = await asyncpg.connect(db_url)
    await migrate(conn)
    await conn.close()
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        first = await make_tenant(pool, "bench0")
        for n in range(1, tenant_count):
            await tenants.create_tenant(pool, f"bench{n}")
        per_tenant = phones // tenant_count
        await pool.execute(
            """INSERT INTO phones (scope_id, phone_number, dn_id)
               SELECT s.scope_id, (10000000000 + substr(s.tenant_id, 6)::bigint * $1 + n)::text, n::text
               FROM scopes s, generate_series(1, $1::int) n
               WHERE s.tenant_id LIKE 'bench%'""",
            per_tenant,
        )
        await pool.execute("ANALYZE phones")
    finally:
        await pool.close()
    return first


@dataclass
class Run:
    """One side's cycles, and the CPU seconds each process group spent on them."""

    tally: Tally
    cpu: dict[str, float]


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU seconds of the processes so far, with those of their children that have exited (a
    PostgreSQL backend ends with its connection, and its time moves to the postmaster's children)."""
    seconds = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            seconds += times.user + times.system + times.children_user + times.children_system
            seconds += sum(t.user + t.system for t in (c.cpu_times() for c in process.children(recursive=True)))
        except psutil.NoSuchProcess:
            continue
    return seconds


def postgres_processes() -> list[psutil.Process]:
    """The postmasters on this machine (the benchmark's own, or the one DNIS_BENCH_DATABASE_URL names
    when it runs here)."""
    return [p for p in psutil.process_iter(["name"])
            if p.info["name"] == "postgres" and psutil.Process(p.ppid()).name() != "postgres"]


def service_processes(service: ServiceProcess) -> list[psutil.Process]:
    assert service.process is not None
    return [psutil.Process(service.process.pid)]


def measured(load: Callable[[], Tally], groups: dict[str, Callable[[], list[psutil.Process]]]) -> Run:
    """Run the load; CPU seconds of the load generator and of each named group of processes."""
    before = {name: _cpu_seconds(find()) for name, find in groups.items()}
    tally = load()
    cpu = {"load": tally.cpu_seconds}
    for name, find in groups.items():
        cpu[name] = _cpu_seconds(find()) - before[name]
    return Run(tally, cpu)


def report(label: str, clients: int, seconds: float, service: Run, raw: Run, rss_mb: float) -> None:
    served, sql = service.tally, raw.tally
    service_rate, raw_rate = served.cycles / seconds, sql.cycles / seconds
    print(f"\n== {label}: {clients} clients, {seconds:.0f} s")
    print(f"cycles/s  service {service_rate:8.0f}   raw SQL {raw_rate:8.0f}   ratio {service_rate / raw_rate:5.2f}")
    print(f"403s      service {served.exhausted:8d}   raw SQL {sql.exhausted:8d}   errors (service) {served.errors}")

    def spread(values: list[float]) -> str:
        return " ".join(f"p{int(q * 100)} {percentile(values, q):6.2f}" for q in (0.5, 0.95, 0.99))

    for op in OPERATIONS:
        print(f"{op:9} ms service {spread(served.latencies[op])} | raw {spread(sql.latencies[op])}")

    def per_cycle(run: Run) -> str:
        cycles = max(run.tally.cycles, 1)
        return ", ".join(f"{name} {used / cycles * 1000:.2f}" for name, used in run.cpu.items())

    print(f"CPU ms per cycle: service side: {per_cycle(service)} | raw side: {per_cycle(raw)}")
    print(f"service resident memory per process: {rss_mb:.0f} MB (max)")


def service_rss_mb(service: ServiceProcess) -> float:
    """The largest resident set among the service's processes (its workers, if it has several)."""
    parent, = service_processes(service)
    return max(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="baseline and service, one after the other, this often")
    args = parser.parse_args()
    with bench_database() as (db_url, scratch):
        run(db_url, scratch, args)


@contextmanager
def bench_database() -> Iterator[tuple[str, Path]]:
    """DNIS_BENCH_DATABASE_URL, or an embedded server in a scratch directory (stopped after);
    and the scratch directory for the service's files."""
    with tempfile.TemporaryDirectory(prefix="dnis-bench-") as scratch:
        given = os.environ.get("DNIS_BENCH_DATABASE_URL")
        try:
            yield given or start_embedded(Path(scratch)), Path(scratch)
        finally:
            if not given:
                stop_embedded(Path(scratch))


def run(db_url: str, scratch: Path, args: argparse.Namespace) -> None:
    tenant = asyncio.run(prepare(db_url, args.phones, args.tenants))
    # The service as production runs it: `dnis-service serve` (uvicorn, uvloop, httptools, one
    # process) with the default settings (log level INFO, pool of 10), unless DNIS_* variables
    # in this environment say otherwise.
    with ServiceProcess(db_url, scratch) as service:
        for clients in args.clients:
            ratios = []
            for round_no in range(args.rounds):
                # New interaction ids every run: an id seen before takes the longer path.
                raw = measured(partial(sql_load, db_url, tenant, f"sql{clients}r{round_no}", clients, args.seconds),
                               {"postgres": postgres_processes})
                served = measured(partial(http_load, service.url, tenant, f"http{clients}r{round_no}", clients,
                                          args.seconds),
                                  {"service": partial(service_processes, service), "postgres": postgres_processes})
                report(f"{args.phones} phones over {args.tenants} tenant(s)", clients, args.seconds, served, raw,
                       service_rss_mb(service))
                ratios.append(served.tally.cycles / max(raw.tally.cycles, 1))
            if args.rounds > 1:
                print(f"\n{clients} clients, ratio over {args.rounds} rounds: median {statistics.median(ratios):.2f}, "
                      f"min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
