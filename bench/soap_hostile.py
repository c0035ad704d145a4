"""How fast hostile SOAP bodies are refused, next to a valid request (the baseline).

    .venv/bin/python bench/soap_hostile.py [--rounds 200]

Starts an embedded PostgreSQL in a temporary directory and the service in-process, sends each
body `rounds` times over ASGI, and prints p50/p99 per body and the ratio to the baseline's p50.
The target is every refusal within 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from dnis_service.config import Settings
from dnis_service.db.embedded import start_embedded, stop_embedded
from dnis_service.db.migrations import migrate
from tests.conftest import AGENT_SOAP, make_tenant, serve_in_process
from tests.soap.test_hostile import BILLION_LAUGHS, OVERSIZED, UNKNOWN_OPERATION, XXE, envelope

VALID = b"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:soap="http://com/jacada/interact/agent/soap">
<soapenv:Body><soap:GetDnisAllocationRequest><soap:phone>999</soap:phone></soap:GetDnisAllocationRequest>
</soapenv:Body></soapenv:Envelope>"""


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        url = start_embedded(Path(data_dir))
        try:
            results = await measure(url, Path(data_dir), rounds)
        finally:
            stop_embedded(Path(data_dir))
    baseline = statistics.median(results["valid request (baseline)"])
    print(f"{'body':28} {'p50 ms':>8} {'p99 ms':>8} {'p50/baseline':>13}")
    for name, timings in results.items():
        p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
        print(f"{name:28} {p50:8.2f} {p99:8.2f} {p50 / baseline:13.2f}")


async def measure(url: str, data_dir: Path, rounds: int) -> dict[str, list[float]]:
    conn = await asyncpg.connect(url)
    await migrate(conn)
    await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    tenant = await make_tenant(pool, "bench")
    await pool.close()
    settings = replace(Settings.from_env({}), run_jobs=False, data_dir=data_dir)
    bodies = {"valid request (baseline)": VALID, "external entity": XXE, "billion laughs": BILLION_LAUGHS,
              "over the size limit": OVERSIZED, "non-XML bytes": b"\x00\xff not xml",
              "unknown operation": UNKNOWN_OPERATION, "DTD in UTF-16": XXE.decode().encode("utf-16"),
              "empty Body": envelope("<soapenv:Body/>").encode()}
    results: dict[str, list[float]] = {}
    async with serve_in_process(settings, url) as client:
        for name, body in bodies.items():
            timings = []
            for _ in range(rounds):
                started = time.perf_counter()
                await client.post(AGENT_SOAP, content=body, headers=tenant.dnis | {"Content-Type": "text/xml"})
                timings.append((time.perf_counter() - started) * 1000)
            results[name] = sorted(timings)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    asyncio.run(main(parser.parse_args().rounds))
