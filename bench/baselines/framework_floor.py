"""The floor of the stack: litestar on uvicorn (uvloop, httptools) and an asyncpg pool of 10,
serving allocate → get → free at the service's own paths with the service's own three statements
(and, like the service's pool, no reset query when a connection goes back to the pool), and
nothing else: no authentication, no validation beyond decoding the body, no deadlines, no
metrics, no log lines, no error shapes. Whatever the service's HTTP path costs above this floor is
the service's own doing; what this costs, no service on this stack and machine can go under.

    python bench/baselines/framework_floor.py serve   # as bench/cycles.py --baselines framework runs it

Reads DNIS_DATABASE_URL, DNIS_PORT, and the driven tenant's DNIS_BENCH_SCOPE_ID,
DNIS_BENCH_QUARANTINE and DNIS_BENCH_TIMEOUT (seconds), which bench/cycles.py sets.
"""

from __future__ import annotations

import os
import sys

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, MediaType, Response, get, post

from dnis_service.cli import _tune_garbage_collection
from dnis_service.db.queries import query

DNIS = "/interact/version/2/dnis"
SCOPE_ID = int(os.environ.get("DNIS_BENCH_SCOPE_ID", "0"))
QUARANTINE = float(os.environ.get("DNIS_BENCH_QUARANTINE", "0"))
TIMEOUT = float(os.environ.get("DNIS_BENCH_TIMEOUT", "300"))
pools: list[asyncpg.Pool] = []


class AllocateBody(msgspec.Struct):
    id: str


def text(body: str, status_code: int = 200) -> Response[str]:
    return Response(body, status_code=status_code, media_type=MediaType.TEXT)


@post(f"{DNIS}/allocate/new", status_code=200)
async def allocate(data: AllocateBody) -> Response[str]:
    rows = await pools[0].fetch(query("allocate_phone"), SCOPE_ID, data.id, None, QUARANTINE, TIMEOUT)
    phone = next((r["phone_number"] for r in rows if r["outcome"] in ("new", "held")), None)
    return text(phone) if phone else text("Currently there are no available phone numbers", 403)


@get(f"{DNIS}/allocate/get/{{phone:str}}")
async def holder(phone: str) -> Response[str]:
    row = await pools[0].fetchrow(query("phone_with_holder"), SCOPE_ID, phone, phone)
    return text(row["unique_id"] if row and row["live"] else "")


@post(f"{DNIS}/allocate/free/{{phone:str}}", status_code=200)
async def free(phone: str) -> Response[str]:
    await pools[0].fetch(query("free_phone"), SCOPE_ID, phone, phone, None)
    return text("")


@get("/health/live")
async def live() -> Response[str]:
    return text("ok")


async def keep_session(conn: asyncpg.Connection) -> None:
    """No reset query on release (a round trip per statement), as the service's pool does."""


async def open_pool() -> None:
    pools.append(await asyncpg.create_pool(os.environ["DNIS_DATABASE_URL"], min_size=10, max_size=10,
                                           reset=keep_session))


async def close_pool() -> None:
    await pools.pop().close()


def main() -> None:
    if sys.argv[1:] != ["serve"]:
        sys.exit(__doc__)
    app = Litestar([allocate, holder, free, live], on_startup=[open_pool], on_shutdown=[close_pool])
    _tune_garbage_collection()  # as `dnis-service serve` does
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["DNIS_PORT"]), log_config=None, access_log=False)


if __name__ == "__main__":
    main()
