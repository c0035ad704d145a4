"""Where a py-spy profile of the service spends its samples, by layer.

    .venv/bin/python bench/cycles.py --clients 16 --seconds 20 --baselines --py-spy /tmp/prof.txt
    .venv/bin/python bench/profile_summary.py /tmp/prof-16r0-0.txt

Reads py-spy's raw output (collapsed stacks, "frame;frame;... count"). Each sample goes to the
layer of its innermost frame (where the time was spent, a C call included: a socket write shows
as the Python line that made it); the socket writes and the event loop's own C code are layers of
their own. Then the inclusive share of a few functions that own whole steps of a request.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (layer, pattern on the innermost frame), the first match wins.
LAYERS = [
    ("socket writes: HTTP answers (uvicorn transport.write)", r"RequestResponseCycle\.send \(uvicorn"),
    ("socket writes: statements (asyncpg protocol)", r"Connection\._do_execute \(asyncpg"),
    ("event loop in C (uvloop: epoll, reads, callbacks)", r"Runner\.run \(asyncio/runners"),
    ("HTTP parsing (uvicorn, httptools)", r"\(uvicorn/"),
    ("password KDF (scrypt)", r"_scrypt|scrypt"),
    ("logging", r"\(logging/|\(pythonjsonlogger/|dnis_service/logs\.py"),
    ("metrics (prometheus_client)", r"\(prometheus_client/|dnis_service/metrics\.py"),
    ("asyncpg (pool, statements, records)", r"\(asyncpg/"),
    ("litestar", r"\(litestar/"),
    ("msgspec", r"\(msgspec/"),
    ("dnis_service/web", r"dnis_service/web/"),
    ("dnis_service/db", r"dnis_service/db/"),
    ("dnis_service/domain", r"dnis_service/domain/"),
    ("asyncio (tasks, timeouts)", r"\(asyncio/"),
    ("other", r""),
]
# Inclusive shares: a request's steps.
STEPS = [
    ("litestar dependency resolution (with authentication)", r"KwargsModel\.resolve_dependencies"),
    ("  authentication", r"Authenticator\.authenticate"),
    ("litestar signature model (handler arguments)", r"parse_values_from_connection_kwargs"),
    ("request body (JSON)", r"json_extractor|Request\.json"),
    ("handlers (domain calls, their statements included)", r"DnisController\."),
    ("  statements (asyncpg fetchrow, from the pool)", r"Pool\.fetchrow"),
    ("response (litestar to_response, ASGIResponse)", r"to_response|ASGIResponse\.__call__"),
    ("HttpRequestMiddleware: metrics, request id, access log", r"HttpRequestMiddleware\.handle"),
    ("  log lines (any)", r"Logger\.(info|_log)"),
    ("  prometheus children and observations", r"prometheus_client"),
    ("exception middleware and below (litestar's whole request)", r"ExceptionHandlerMiddleware\.__call__"),
]


def main(path: str) -> None:
    layers: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = 0
    for line in filter(str.strip, Path(path).read_text(encoding="utf-8").splitlines()):
        stack, _, count_text = line.rstrip().rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        innermost = frames[-1]
        layers[next(name for name, pattern in LAYERS if re.search(pattern, innermost))] += count
        for name, pattern in STEPS:
            if any(re.search(pattern, frame) for frame in frames):
                steps[name] += count
    print(f"{total} samples; by layer of the innermost frame:")
    for name, count in layers.most_common():
        print(f"{count / total * 100:5.1f} %  {name}")
    print("inclusive:")
    for name, _ in STEPS:
        print(f"{steps[name] / total * 100:5.1f} %  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
