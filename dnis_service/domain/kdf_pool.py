"""A small thread pool for the password KDF, so that it never runs on the event loop, with a bound
on the work it accepts: when every place is taken the caller is refused at once, not queued.

hashlib.scrypt releases the GIL while OpenSSL computes, so the event loop keeps serving other
requests while a worker hashes (bench/README.md measures it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from dnis_service import metrics
from dnis_service.domain.errors import PasswordChecksBusy

T = TypeVar("T")


class KdfPool:
    def __init__(self, workers: int, waiting: int) -> None:
        """`workers` threads, and at most `waiting` jobs waiting for one of them."""
        self.capacity = workers + waiting
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kdf")
        self._lock = threading.Lock()  # places are given back from the worker threads
        self._taken = 0

    @property
    def taken(self) -> int:
        """Places in use: jobs running or waiting."""
        return self._taken

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """work(*args) on a worker thread; PasswordChecksBusy at once when the pool is full."""
        with self._lock:
            if self._taken >= self.capacity:
                metrics.password_refused("busy")
                raise PasswordChecksBusy()
            self._taken += 1
        try:
            future = self._executor.submit(work, *args)
        except BaseException:
            self._give_back()
            raise
        # The place is free once the job is done, or cancelled before it started (its caller
        # gone): a caller that stops waiting does not free a thread still computing.
        future.add_done_callback(lambda _: self._give_back())
        return await asyncio.wrap_future(future)

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1
