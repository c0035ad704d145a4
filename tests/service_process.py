"""Runs `dnis-service serve` as a real process, for tests that need processes: soak, faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).parent / "dnis-service")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """`dnis-service serve` on database_url, or (None) on an embedded PostgreSQL in data_dir."""

    def __init__(self, database_url: str | None, data_dir: Path, cli: str = CLI, **env: str) -> None:
        self.cli = cli
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"service-{self.port}.log"
        self._env = {
            **os.environ,
            "DNIS_DATABASE_URL": database_url or "",
            "DNIS_DATA_DIR": str(data_dir),
            "DNIS_PORT": str(self.port),
            "DNIS_MIGRATE_ON_START": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([self.cli, "serve"], env=self._env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.data_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"service did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 20, signum: int = signal.SIGTERM) -> int:
        """SIGTERM (or signum), then wait for a graceful exit; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
