"""One deadline for all the database waits of a piece of work: a request, a readiness probe, an import.

Inside `deadline(seconds)`, each wait — for a pool connection, for a new connection, for each
statement, for the transaction's COMMIT or ROLLBACK — may take only what is left of it, so that
the waits together end within `seconds` of the first one, however many there are. Tasks started
inside the block share it (a context variable). Outside any deadline (the jobs, the CLI), each
wait gets the statement timeout on its own.

With the database hung, a request therefore answers 503 within DNIS_DB_STATEMENT_TIMEOUT_SECONDS
of its first database wait plus the time to write the answer, a margin documented as half a
second (0.04-0.14 s measured with 20 requests at once on a pool of 4, tests/test_faults.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class _Deadline:
    seconds: float
    ends: float | None = None  # set by the first wait: reading a request's body is not a database wait

    def left(self) -> float:
        now = time.monotonic()
        if self.ends is None:
            self.ends = now + self.seconds
        return self.ends - now


_current: ContextVar[_Deadline | None] = ContextVar("database_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """The database waits in this block end within `seconds` of the first one; this block's
    deadline replaces an outer one (a probe's is shorter than a request's, an import's longer)."""
    token = _current.set(_Deadline(seconds))
    try:
        yield
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """What is left of the current deadline; None outside any.

    Raises TimeoutError (which the adapters answer as "database unavailable") once it has passed.
    """
    current = _current.get()
    if current is None:
        return None
    left = current.left()
    if left <= 0:
        raise TimeoutError(f"the database deadline of {current.seconds}s has passed")
    return left


def budget(limit: float) -> float:
    """How long the next wait may take: `limit`, or what is left of the deadline when that is less."""
    left = remaining()
    return limit if left is None else min(limit, left)
