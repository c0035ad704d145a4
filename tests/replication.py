"""A PostgreSQL primary and a synchronous streaming standby from Debian's packages (initdb,
pg_basebackup -R, pg_ctl promote), for the failover tests; and how to hang a server.

Run as root, the servers run as the `postgres` user, as the packages install them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from tests.service_process import free_port

USER = "dnis"  # the clusters' superuser, and the service's role
DATABASE = "dnis"
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql")
PRIMARY_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 60
shared_buffers = 32MB
fsync = off
synchronous_commit = on
wal_keep_size = 128MB
"""


def postgres_bin() -> Path | None:
    """The bin directory of the newest PostgreSQL the Debian packages installed, if any."""
    found = [bindir for bindir in Path("/usr/lib/postgresql").glob("*/bin")
             if bindir.parent.name.isdigit() and all((bindir / tool).exists() for tool in TOOLS)]
    return max(found, key=lambda bindir: int(bindir.parent.name), default=None)


def why_unavailable() -> str | None:
    """Why these tests cannot run here, or None."""
    if postgres_bin() is None:
        return "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "run as root, the servers need the postgres user (apt-get install postgresql)"
    return None


def suspend(pgdata: Path) -> list[psutil.Process]:
    """Stop the server answering (SIGSTOP on the postmaster first, then on every backend): its
    connections stay open and new ones are accepted by the kernel but never answered, as with a
    hung or partitioned server. Returns the processes stopped, for resume()."""
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    postmaster.suspend()
    stopped = [postmaster]
    try:
        for process in postmaster.children(recursive=True):
            process.suspend()
            stopped.append(process)
    except psutil.Error:
        resume(stopped)
        raise
    return stopped


def resume(stopped: list[psutil.Process]) -> None:
    for process in reversed(stopped):
        with suppress(psutil.NoSuchProcess):
            process.resume()


class Node:
    """One server of the cluster: its data directory, port and log."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.port = free_port()
        self.data = cluster.root / name
        self.log = cluster.root / f"{name}.log"
        self.suspended: list[psutil.Process] = []

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        self.cluster.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", f"-p {self.port}", "start")

    def stop(self, mode: str) -> None:
        """pg_ctl stop: 'fast' as a switchover stops a primary, 'immediate' as a crash does."""
        self.cluster.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def promote(self) -> None:
        self.cluster.run("pg_ctl", "-D", self.data, "-w", "-t", "60", "promote")

    def hang(self) -> None:
        self.suspended = suspend(self.data)

    def sql(self, statement: str, database: str = DATABASE) -> str:
        return self.cluster.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database,
                                "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement)

    def follow(self, primary: Node) -> None:
        """Make this (stopped) server a standby of `primary` when it starts."""
        self.cluster.write(self.data / "standby.signal", "")
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user={USER}'\n")

    def configure(self, settings: str) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def discard(self) -> None:
        """Stop the server however it is (hung included), now."""
        resume(self.suspended)
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self.cluster.command("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"),
                           capture_output=True, timeout=60)


class Cluster:
    """A primary ("one") with a synchronous streaming standby ("two"), in a directory of its own."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        assert bindir is not None, why_unavailable()
        self.bindir = bindir
        self.owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        # Not under pytest's tmp_path: the postgres user must reach it (see tests/conftest.py).
        self.root = Path(tempfile.mkdtemp(prefix="dnis-failover-"))
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self.primary = Node(self, "one")
        self.standby = Node(self, "two")

    @property
    def url(self) -> str:
        """Both servers, as a Patroni cluster's clients name them."""
        return (f"postgresql://{USER}@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/{DATABASE}"
                "?target_session_attrs=read-write")

    def command(self, tool: str, *args: object) -> list[str]:
        command = [str(self.bindir / tool), *(str(arg) for arg in args)]
        return ["runuser", "-u", "postgres", "--", *command] if self.owner is not None else command

    def run(self, tool: str, *args: object) -> str:
        done = subprocess.run(self.command(tool, *args), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} {args} failed:\n{done.stdout}{done.stderr}"
        return done.stdout.strip()

    def write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self.owner is not None:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def start(self) -> Cluster:
        """initdb the primary, start it, copy it to the standby with pg_basebackup -R, start that,
        and wait until the standby is synchronous."""
        self.run("initdb", "-D", self.primary.data, "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8",
                 "--locale", "C")
        self.primary.configure(PRIMARY_SETTINGS)
        self.primary.start()
        self.primary.sql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.run("pg_basebackup", "-D", self.standby.data, "-h", "127.0.0.1", "-p", self.primary.port, "-U", USER,
                 "-R", "-X", "stream", "-c", "fast", "--no-sync")
        self.standby.start()
        # Set after the copy, on the primary alone: a promoted standby, which has no standby of its
        # own, does not wait for one (as Patroni sees to).
        self.primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        self.primary.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while self.primary.sql("SELECT sync_state FROM pg_stat_replication") != "sync":
            assert time.monotonic() < deadline, "the standby did not become synchronous"
            time.sleep(0.1)
        return self

    def close(self) -> None:
        for node in (self.primary, self.standby):
            node.discard()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def primary_with_standby() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.close()
