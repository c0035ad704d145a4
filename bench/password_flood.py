"""Health and allocate latency while wrong passwords flood the service, against the same figures
unloaded, in one run.

    .venv/bin/python bench/password_flood.py [--clients 16] [--seconds 10] [--cli PATH]

It starts a PostgreSQL (embedded, in a temporary directory; or DNIS_BENCH_DATABASE_URL), loads a
tenant with 1,000 phones, and starts `dnis-service serve` as production runs it (its own process,
default settings; `--cli` runs another build's `dnis-service`, to compare). A probe (this process,
one connection) sends GET /health/live, then allocates a phone and frees it again (correct user
credentials), every 10 ms. For each scenario it prints the probe's p50/p99 and their ratio to the
unloaded figures, and what the flood got (wrk, `--clients` connections, as fast as answered):

- unloaded: the probe alone;
- wrong key: requests with a wrong application key (a plain 401, no password work): what a
  flood of any cheap request costs, for reference;
- same user: wrong passwords for the probe's own user;
- user per client: wrong passwords, each connection for a user id of its own (unknown ids);
- user per request: wrong passwords, a new user id every request, so that none is ever throttled
  and every one costs a KDF run (or a refusal when the KDF pool is full).

First it checks that hashlib.scrypt releases the GIL: how much pure Python one thread runs while
another hashes, against the same beside an idle thread, and beside a thread in a C loop that
keeps the GIL (the control). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cycles import bench_database, percentile, prepare

from tests.conftest import DNIS, Tenant
from tests.service_process import CLI, ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
PROBE_INTERVAL_SECONDS = 0.01
# (name, headers: "right key" or "wrong key", user mode of password_flood.lua)
SCENARIOS = [
    ("wrong key", "wrong key", "none"),
    ("same user", "right key", "same"),
    ("user per client", "right key", "client"),
    ("user per request", "right key", "request"),
]


def _turns_beside(work: Callable[[], object], seconds: float) -> int:
    """Pure-Python loop turns this thread makes in `seconds` while another thread repeats work()
    (none: alone)."""
    stop = threading.Event()

    def repeat() -> None:
        while not stop.is_set():
            work()

    worker = threading.Thread(target=repeat)
    worker.start()
    try:
        count, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            count += 1
        return count
    finally:
        stop.set()
        worker.join()


def gil_check(seconds: float = 1.0) -> tuple[float, float]:
    """This thread's pure-Python turns beside a thread running scrypt, and beside one running a C
    loop that holds the GIL (the control), each as a share of its turns beside an idle thread."""
    alone = _turns_beside(lambda: time.sleep(0.01), seconds)
    beside_scrypt = _turns_beside(
        lambda: hashlib.scrypt(b"password", salt=b"0123456789abcdef", n=2**14, r=8, p=1, dklen=32), seconds)
    beside_gil_holder = _turns_beside(lambda: sum(range(3_000_000)), seconds)
    return beside_scrypt / alone, beside_gil_holder / alone


@dataclass
class Probe:
    health: list[float] = field(default_factory=list)
    allocate: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


async def probe(url: str, tenant: Tenant, seconds: float, prefix: str) -> Probe:
    """Health, allocate and free, one after the other, every PROBE_INTERVAL_SECONDS."""
    found = Probe()
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        step = 0
        while time.monotonic() < deadline:
            step += 1
            started = time.perf_counter()
            live = await http.get("/health/live")
            found.health.append((time.perf_counter() - started) * 1000)
            if live.status_code != 200:
                found.failures[f"health {live.status_code}"] += 1
            started = time.perf_counter()
            allocated = await http.post(f"{DNIS}/allocate/new", json={"id": f"{prefix}-{step}"}, headers=tenant.web)
            found.allocate.append((time.perf_counter() - started) * 1000)
            if allocated.status_code != 200:
                found.failures[f"allocate {allocated.status_code}"] += 1
            else:
                freed = await http.post(f"{DNIS}/allocate/free/{allocated.text}", headers=tenant.dnis_user)
                if freed.status_code != 200:
                    found.failures[f"free {freed.status_code}"] += 1
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
    return found


def start_flood(url: str, tenant: Tenant, clients: int, seconds: float, key: str, mode: str,
                out: Path) -> subprocess.Popen[bytes]:
    headers = tenant.dnis if key == "right key" else tenant.dnis | {"Application-Key": "x" * 43}
    user = tenant.user if mode == "same" else "guessed-user"
    script = str(ROOT / "bench" / "password_flood.lua")
    return subprocess.Popen(
        ["wrk", f"-t{clients}", f"-c{clients}", f"-d{round(seconds)}s", "-s", script,
         url, "--", "|".join(f"{k}: {v}" for k, v in headers.items()), mode, user],
        env={**os.environ, "DNIS_BENCH_WRK_OUT": str(out)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def flood_statuses(wrk: subprocess.Popen[bytes], out: Path) -> Counter[int]:
    said = wrk.communicate()[0].decode(errors="replace")
    if wrk.returncode:
        raise RuntimeError(f"wrk exited {wrk.returncode}: {said}")
    return Counter({int(status): int(count) for status, count in (line.split() for line in out.read_text().split("\n")
                                                                  if line)})


def spread(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5), percentile(values, 0.99)


def report(name: str, found: Probe, unloaded: Probe, statuses: Counter[int] | None, seconds: float) -> None:
    health, allocate = spread(found.health), spread(found.allocate)
    base_health, base_allocate = spread(unloaded.health), spread(unloaded.allocate)
    flood = ("-" if statuses is None else
             f"{sum(statuses.values()) / seconds:7.0f}/s " + " ".join(f"{s}:{n}" for s, n in sorted(statuses.items())))
    print(f"{name:17} health p50 {health[0]:7.2f} p99 {health[1]:8.2f} ms (x{health[0] / base_health[0]:5.1f} "
          f"x{health[1] / base_health[1]:5.1f})  allocate p50 {allocate[0]:7.2f} p99 {allocate[1]:8.2f} ms "
          f"(x{allocate[0] / base_allocate[0]:5.1f} x{allocate[1] / base_allocate[1]:5.1f})  "
          f"probe failures {dict(found.failures) or 0}  flood {flood}", flush=True)


def run(db_url: str, scratch: Path, args: argparse.Namespace) -> None:
    tenant = asyncio.run(prepare(db_url, 1000, 1))
    with ServiceProcess(db_url, scratch, cli=args.cli) as service:
        # Warm up: the probe's password is verified (and cached) before any flood begins.
        asyncio.run(probe(service.url, tenant, 1.0, "warm"))
        unloaded = asyncio.run(probe(service.url, tenant, args.seconds, "unloaded"))
        report("unloaded", unloaded, unloaded, None, args.seconds)
        for name, key, mode in [s for s in SCENARIOS if s[0] in args.scenarios]:
            with tempfile.NamedTemporaryFile(prefix="dnis-flood-", suffix=".txt") as out:
                wrk = start_flood(service.url, tenant, args.clients, args.seconds + 1, key, mode, Path(out.name))
                time.sleep(0.5)  # the flood under way before the probe starts
                found = asyncio.run(probe(service.url, tenant, args.seconds, name.replace(" ", "-")))
                report(name, found, unloaded, flood_statuses(wrk, Path(out.name)), args.seconds + 1)
            time.sleep(2)  # let queued work drain before the next scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--scenarios", nargs="+", default=[s[0] for s in SCENARIOS], metavar="NAME",
                        help="which floods to run (default: all)")
    parser.add_argument("--cli", default=CLI, help="the dnis-service executable to run (another build's, to compare)")
    args = parser.parse_args()
    scrypt, holder = gil_check()
    print(f"GIL check: pure-Python turns of one thread beside another running scrypt: {scrypt:.2f} of those "
          f"beside an idle one; beside one running a C loop that holds the GIL: {holder:.2f}", flush=True)
    with bench_database() as (db_url, scratch):
        run(db_url, scratch, args)


if __name__ == "__main__":
    main()
