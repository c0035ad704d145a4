"""Bulk import: one `POST /interact/version/2/dnis/bulk` of many phones, as CSV and as JSON.

    .venv/bin/python bench/bulk_import.py [--rows 400000] [--rounds 3] [--formats csv json]

Starts a PostgreSQL (embedded, or DNIS_BENCH_DATABASE_URL) and `dnis-service serve` with the
default settings, then imports `--rows` new phones (11-digit numbers, no dnId) per round and
format, as text/csv and as a JSON array; prints the body's size, the answer, the time to it, the
slowest `/health/live` answer while the import ran (polled every 50 ms: how long the import kept
the event loop), and the service's peak resident memory so far (the chart's limit is 256 MiB).
400,000 rows are 4.8 MB of CSV, 12.4 MB of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cycles import DNIS, bench_database, prepare

from tests.conftest import Tenant
from tests.service_process import ServiceProcess


def csv_body(first: int, rows: int) -> bytes:
    return "\n".join(["phoneNumber", *(str(n) for n in range(first, first + rows))]).encode() + b"\n"


def json_body(first: int, rows: int) -> bytes:
    return json.dumps([{"phoneNumber": str(n)} for n in range(first, first + rows)]).encode()


FORMATS = {"csv": (csv_body, "text/csv"), "json": (json_body, "application/json")}


def peak_rss_mb(service: ServiceProcess) -> float:
    assert service.process is not None
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


async def import_once(url: str, tenant: Tenant, body: bytes, content_type: str) -> tuple[int, str, float, float]:
    """(status, start of the answer, seconds, slowest liveness answer in seconds meanwhile)."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        slowest = 0.0

        async def poll_liveness() -> None:
            nonlocal slowest
            while True:
                asked = time.perf_counter()
                await http.get("/health/live")
                slowest = max(slowest, time.perf_counter() - asked)
                await asyncio.sleep(0.05)

        polling = asyncio.create_task(poll_liveness())
        started = time.perf_counter()
        response = await http.post(f"{DNIS}/bulk", content=body,
                                   headers=tenant.dnis_user | {"Content-Type": content_type})
        seconds = time.perf_counter() - started
        polling.cancel()
    return response.status_code, response.text[:80], seconds, slowest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=sorted(FORMATS), default=["csv", "json"])
    args = parser.parse_args()
    with bench_database() as (db_url, scratch):
        tenant = asyncio.run(prepare(db_url, 0, 1))
        with ServiceProcess(db_url, scratch) as service:
            first = 20_000_000_000
            for round_no in range(args.rounds):
                for kind in args.formats:
                    build, content_type = FORMATS[kind]
                    body = build(first, args.rows)
                    first += args.rows
                    status, text, seconds, live = asyncio.run(import_once(service.url, tenant, body, content_type))
                    print(f"round {round_no + 1} {kind:4} {args.rows} rows {len(body) / 1e6:.1f} MB: "
                          f"{status} {text!r} in {seconds:.2f} s, slowest live {live * 1000:.0f} ms, "
                          f"peak RSS {peak_rss_mb(service):.0f} MB", flush=True)


if __name__ == "__main__":
    main()
