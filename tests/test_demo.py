"""The quick start: `dnis-service serve --demo` prints curl commands that work when pasted, and a
restart keeps the tenant and shows the same keys."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service_process import free_port

CLI = str(Path(sys.executable).parent / "dnis-service")


def start_demo(database_url: str, data_dir: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Start serve --demo; return it and the curl lines it printed, once it answers."""
    env = {**os.environ, "DNIS_DATABASE_URL": database_url, "DNIS_DATA_DIR": str(data_dir), "DNIS_PORT": str(port)}
    process = subprocess.Popen([CLI, "serve", "--demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while not any(line.startswith("curl -s http") and "/dnis " in line for line in lines):
        assert time.monotonic() < deadline, lines
        lines.append(process.stdout.readline().rstrip("\n"))
    while True:
        assert time.monotonic() < deadline
        try:
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, [line for line in lines if line.startswith(("PHONE=", "curl"))]


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(20)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_printed_curl_commands_work_and_a_restart_keeps_the_demo(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    process, commands = start_demo(database_url, tmp_path, port)
    try:
        output = subprocess.run(["bash", "-c", "\n".join(commands)], capture_output=True, text=True, timeout=30)
    finally:
        stop(process)
    printed = output.stdout.splitlines()
    assert printed[0].startswith("1555010")  # the allocated number
    assert printed[1] == "Unique Id 3"  # who holds it
    assert printed[2] == "200"  # freed
    again, commands_again = start_demo(database_url, tmp_path, port)
    stop(again)
    assert commands_again == commands  # same tenant, same keys (kept in the data directory)
