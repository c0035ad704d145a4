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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dbwork  # noqa: E402  (bench/, on the path as this script's folder)
from baselines import service_statements  # noqa: E402

from dnis_service.db.embedded import start_embedded, stop_embedded  # noqa: E402
from dnis_service.db.migrations import migrate  # noqa: E402
from dnis_service.db.pool import create_pool  # noqa: E402
from dnis_service.domain import allocations, tenants  # noqa: E402
from dnis_service.domain.allocations import Limits  # noqa: E402
from tests.conftest import Tenant, make_tenant  # noqa: E402
from tests.service_process import CLI, ServiceProcess  # noqa: E402

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


def http_load(url: str, tenant: Tenant, prefix: str, clients: int, seconds: float, profile: Path | None = None,
              pid: int | None = None) -> Tally:
    """The cycles through the service's HTTP API, from wrk (C, one connection per thread, so that
    the load generator takes little of the CPU it shares with the service on a small machine);
    with `profile`, py-spy samples process `pid` meanwhile, into that file."""
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "--rate", "200", "--pid", str(pid),
             "--duration", str(round(seconds)), "--format", "flamegraph" if profile.suffix == ".svg" else "raw",
             "-o", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        return _wrk(url, tenant, prefix, clients, seconds)
    finally:
        if spy is not None:
            spy.wait(30)


def _wrk(url: str, tenant: Tenant, prefix: str, clients: int, seconds: float) -> Tally:
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
    """One run's cycles; the CPU seconds each process group spent on them; what the database did
    (its counters' deltas) and, where pg_stat_statements is loaded, the statements that wrote."""

    label: str
    tally: Tally
    cpu: dict[str, float]
    db: dbwork.Counters = field(default_factory=dbwork.Counters)
    statements: list[dbwork.Statement] = field(default_factory=list)

    def per_cycle(self, amount: float) -> float:
        return amount / max(self.tally.cycles, 1)


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU seconds of the processes so far, with those of their children that have exited (a
    PostgreSQL backend ends with its connection, and its time moves to the postmaster's children)."""
    seconds = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            children = process.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        seconds += times.user + times.system + times.children_user + times.children_system
        for child in children:
            try:  # a backend may end between the listing and the reading: only it is missed
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds += child_times.user + child_times.system
    return seconds


async def _postmaster_pid(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:  # while the backend lives: once closed, it may be gone before psutil looks
        return psutil.Process(await conn.fetchval("SELECT pg_backend_pid()")).ppid()
    finally:
        await conn.close()


def postgres_processes(db_url: str) -> Callable[[], list[psutil.Process]]:
    """The postmaster of db_url's server (when it runs on this machine; else nothing is counted),
    found through a backend's parent: other PostgreSQL servers on the machine (test runs) are not
    this benchmark's."""
    try:
        postmaster = psutil.Process(asyncio.run(_postmaster_pid(db_url)))
    except psutil.NoSuchProcess:
        postmaster = None
    return lambda: [postmaster] if postmaster is not None else []


def service_processes(service: ServiceProcess) -> list[psutil.Process]:
    assert service.process is not None
    return [psutil.Process(service.process.pid)]


def measured(label: str, load: Callable[[], Tally], groups: dict[str, Callable[[], list[psutil.Process]]],
             db_url: str, statements: bool, settle: float = dbwork.FLUSH_SECONDS) -> Run:
    """Run the load; CPU seconds of the load generator and of each named group of processes, and
    the database's counters (db_url's database) from right before to right after the load (read
    `settle` seconds after it: see bench/dbwork.py)."""
    before_db = dbwork.read_counters(db_url)
    if statements:
        dbwork.reset_statements(db_url)
    before = {name: _cpu_seconds(find()) for name, find in groups.items()}
    tally = load()
    cpu = {"load": tally.cpu_seconds}
    for name, find in groups.items():
        cpu[name] = _cpu_seconds(find()) - before[name]
    after_db = dbwork.read_counters(db_url, settle)
    statements_after = dbwork.top_statements(db_url) if statements else []
    return Run(label, tally, cpu, after_db - before_db, statements_after)


def pgbench_load(db_url: str, script: str, clients: int, seconds: float, variables: dict[str, object]) -> Tally:
    result = dbwork.pgbench(db_url, script, clients, seconds, LOAD_PROCESSES, variables)
    return Tally(cycles=result.cycles, errors=result.failed, cpu_seconds=result.cpu_seconds)


async def statement_variables(db_url: str, tenant: Tenant) -> dict[str, object]:
    """The driven tenant's values for the service-statements script: what the service passes."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        caller = await tenants.operator_caller(pool, tenant.tenant_id)
    finally:
        await pool.close()
    return {"scope_id": caller.scope_id, "quarantine": float(caller.policy.quarantine_seconds),
            "timeout": float(allocations.timeout_seconds(None, caller, Limits())), "step": 0}


# What a row of the table shows, per cycle.
COLUMNS = ("cycles/s", "WAL B", "FPI", "row writes", "PG CPU ms", "client CPU ms")


def figures(run: Run, seconds: float) -> dict[str, float]:
    client = run.cpu.get("service", run.cpu["load"])  # the process that sends the SQL
    return {
        "cycles/s": run.tally.cycles / seconds,
        "WAL B": run.per_cycle(run.db.wal_bytes),
        "FPI": run.per_cycle(run.db.wal_fpi),
        "row writes": run.per_cycle(run.db.row_writes),
        "PG CPU ms": run.per_cycle(run.cpu["postgres"]) * 1000,
        "client CPU ms": run.per_cycle(client) * 1000,
    }


def table(title: str, rows: dict[str, dict[str, float]], reference: str | None) -> None:
    """One row per run, and each figure's ratio to the reference run's (the minimal design)."""
    print(f"\n{title}")
    print(f"{'run':22}" + "".join(f"{name:>14}" for name in COLUMNS) + (
        "   ratio to " + reference + ": cycles/s, WAL, row writes, PG CPU" if reference else ""))
    for label, values in rows.items():
        line = f"{label:22}" + "".join(
            f"{values[c]:14,.0f}" if c in ("cycles/s", "WAL B") else f"{values[c]:14.2f}" for c in COLUMNS)
        if reference and reference in rows:
            base = rows[reference]
            ratios = [values[c] / base[c] if base[c] else float("nan")
                      for c in ("cycles/s", "WAL B", "row writes", "PG CPU ms")]
            line += "   " + ", ".join(f"{r:.2f}" for r in ratios)
        print(line)


def report(label: str, clients: int, seconds: float, runs: list[Run], rss_mb: float) -> None:
    print(f"\n== {label}: {clients} clients, {seconds:.0f} s")
    reference = "minimal" if any(run.label == "minimal" for run in runs) else None
    table("per cycle (client CPU: the service for the service, pgbench or the asyncpg clients for the others)",
          {run.label: figures(run, seconds) for run in runs}, reference)
    print("wrk CPU ms per cycle: " + ", ".join(f"{run.label} {run.per_cycle(run.cpu['load']) * 1000:.2f}"
                                                for run in runs if "service" in run.cpu))
    print("checkpoints during the runs: " + ", ".join(f"{run.label} {run.db.checkpoints}" for run in runs))
    print("403s and errors: " + ", ".join(f"{run.label} {run.tally.exhausted}/{run.tally.errors}" for run in runs))

    def spread(values: list[float]) -> str:
        return " ".join(f"p{int(q * 100)} {percentile(values, q):6.2f}" for q in (0.5, 0.95, 0.99))

    for run in runs:
        if run.tally.latencies["allocate"]:
            for op in OPERATIONS:
                print(f"{run.label} {op:9} ms {spread(run.tally.latencies[op])}")
    print(f"service resident memory per process: {rss_mb:.0f} MB (max)")
    for run in runs:
        if run.statements:
            print(f"\nstatements of the {run.label} run by WAL (pg_stat_statements, top level), per cycle:")
            print(f"{'calls':>7} {'WAL B':>8} {'FPI':>6} {'rows':>6} {'WAL B/call':>10}  statement")
            for s in run.statements:
                print(f"{run.per_cycle(s.calls):7.2f} {run.per_cycle(s.wal_bytes):8.0f} {run.per_cycle(s.wal_fpi):6.2f}"
                      f" {run.per_cycle(s.rows):6.2f} {s.wal_bytes / max(s.calls, 1):10.0f}  {s.query[:110]}")


def service_rss_mb(service: ServiceProcess) -> float:
    """The largest resident set among the service's processes (its workers, if it has several)."""
    parent, = service_processes(service)
    return max(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20


BASELINES = ("minimal", "statements", "asyncpg", "framework")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--phones", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="the baselines and the service, one after the other, "
                                                                "this often")
    parser.add_argument("--baselines", nargs="*", choices=BASELINES, default=["minimal", "statements"],
                        help="minimal: the minimal design (pgbench); statements: the service's statements "
                             "(pgbench); asyncpg: the service's domain functions straight through asyncpg; "
                             "framework: the service's statements behind bare litestar routes (its floor)")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the service with py-spy (pip install py-spy) during "
                                                          "its runs, into FILE (.svg: a flame graph; else raw, "
                                                          "collapsed stacks), one file per run")
    parser.add_argument("--cli", nargs="+", help="the dnis-service executables of builds to compare (default: this "
                                                 "venv's); each runs as a service of its own, driven in turn")
    args = parser.parse_args()
    with bench_database() as (db_url, scratch):
        run(db_url, scratch, args)


@contextmanager
def bench_database() -> Iterator[tuple[str, Path]]:
    """DNIS_BENCH_DATABASE_URL, or an embedded server in a scratch directory (stopped after);
    and the scratch directory for the service's files. With DNIS_BENCH_PG_STAT_STATEMENTS=1 the
    embedded server preloads pg_stat_statements."""
    with tempfile.TemporaryDirectory(prefix="dnis-bench-") as scratch:
        given = os.environ.get("DNIS_BENCH_DATABASE_URL")
        try:
            url = given or start_embedded(Path(scratch))
            if not given and os.environ.get("DNIS_BENCH_PG_STAT_STATEMENTS") == "1":
                url = dbwork.enable_pg_stat_statements(url, Path(scratch).resolve() / "pgdata")
            yield url, Path(scratch)
        finally:
            if not given:
                stop_embedded(Path(scratch))


def framework_floor_command(scratch: Path) -> str:
    """An executable that runs baselines/framework_floor.py with this interpreter, as ServiceProcess
    runs a build of the service (`<command> serve`)."""
    command = scratch / "framework-floor"
    script = ROOT / "bench" / "baselines" / "framework_floor.py"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    command.chmod(0o755)
    return str(command)


def run(db_url: str, scratch: Path, args: argparse.Namespace) -> None:
    tenant = asyncio.run(prepare(db_url, args.phones, args.tenants))
    minimal_url = dbwork.prepare_minimal(db_url, args.phones) if "minimal" in args.baselines else ""
    minimal_script = (ROOT / "bench" / "baselines" / "minimal.pgbench").read_text()
    statements = dbwork.statements_ready(db_url)
    if statements and minimal_url:
        dbwork.statements_ready(minimal_url)
    variables = asyncio.run(statement_variables(db_url, tenant))
    postgres = postgres_processes(db_url)
    label = f"{args.phones} phones over {args.tenants} tenant(s)"
    # The service as production runs it: `dnis-service serve` (uvicorn, uvloop, httptools, one
    # process) with the default settings (log level INFO, pool of 10), unless DNIS_* variables
    # in this environment say otherwise.
    with ExitStack() as stack:
        # One service per build (--cli), all on this database, driven one after the other.
        services = {f"service {n + 1}" if n else "service": stack.enter_context(ServiceProcess(db_url, scratch, cli))
                    for n, cli in enumerate([str(Path(c).absolute()) for c in args.cli or [CLI]])}
        if "framework" in args.baselines:
            # Driven like a build of the service (same wrk load, its CPU counted as the service's).
            tenant_settings = {f"DNIS_BENCH_{name.upper()}": str(variables[name])
                               for name in ("scope_id", "quarantine", "timeout")}
            services["framework floor"] = stack.enter_context(
                ServiceProcess(db_url, scratch, framework_floor_command(scratch), **tenant_settings))
        for clients in args.clients:
            rounds: list[list[Run]] = []
            for round_no in range(args.rounds):
                # New interaction ids every run: an id seen before takes the longer path.
                name = f"{clients}r{round_no}"
                runs = []
                if "minimal" in args.baselines:
                    runs.append(measured("minimal", partial(pgbench_load, minimal_url, minimal_script, clients,
                                                            args.seconds, {}),
                                         {"postgres": postgres}, minimal_url, statements))
                if "statements" in args.baselines:
                    runs.append(measured("service statements", partial(
                        pgbench_load, db_url, service_statements.script(), clients, args.seconds,
                        {**variables, "run": f"pgb{name}"}), {"postgres": postgres}, db_url, statements))
                if "asyncpg" in args.baselines:
                    runs.append(measured("asyncpg", partial(sql_load, db_url, tenant, f"sql{name}", clients,
                                                            args.seconds),
                                         {"postgres": postgres}, db_url, statements))
                # Builds alternate: each round starts with the next one.
                order = list(services.items())
                order = order[round_no % len(order):] + order[:round_no % len(order)]
                for n, (service_label, service) in enumerate(order):
                    profile = None
                    if args.py_spy:
                        given = Path(args.py_spy)
                        profile = given.with_name(f"{given.stem}-{name}-{n}{given.suffix}")
                    assert service.process is not None
                    runs.append(measured(service_label, partial(http_load, service.url, tenant, f"http{name}s{n}",
                                                                clients, args.seconds, profile, service.process.pid),
                                         {"service": partial(service_processes, service), "postgres": postgres},
                                         db_url, statements, dbwork.SETTLE_SECONDS))
                runs.sort(key=lambda run: run.label)  # the same order in every round's table
                report(f"{label}, round {round_no + 1}", clients, args.seconds, runs,
                       max(service_rss_mb(service) for service in services.values()))
                rounds.append(runs)
            if args.rounds > 1:
                medians = {run.label: {c: statistics.median(figures(r[i], args.seconds)[c] for r in rounds)
                                       for c in COLUMNS} for i, run in enumerate(rounds[0])}
                table(f"{clients} clients, medians over {args.rounds} rounds", medians,
                      "minimal" if "minimal" in medians else None)


if __name__ == "__main__":
    main()
