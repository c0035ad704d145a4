"""Erlang B: the share of arrivals refused by a pool of N numbers under an offered load of A Erlangs.

A pool of numbers lent to arrivals that come at random (Poisson), each kept for a while and then
given back, with a refused arrival going away, is the telephone trunk group of the Erlang loss
model; its blocking depends on the mean holding time only, not on its distribution.

The recursion B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)) is computed on its reciprocal,
1/B(n) = 1 + (n/A)·1/B(n-1): every term is positive, so nothing cancels, and no factorial or
power of A is ever formed. Its relative error stays within about n machine epsilons (1e-11 at
100,000 numbers) for any load, 100,000 Erlangs or 1e-9; once 1/B overflows, B is 0 and stays 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator


def _blocking_by_size(offered_load: float) -> Iterator[float]:
    """B(A, 0), B(A, 1), B(A, 2), ... (endless; 0.0 from where 1/B overflows)."""
    inverse = 1.0
    n = 0
    while True:
        yield 1.0 / inverse
        n += 1
        inverse = 1.0 + n / offered_load * inverse if offered_load > 0 else math.inf


def blocking(offered_load: float, phones: int) -> float:
    """B(A, N): the probability that an arrival finds all `phones` numbers taken."""
    return next(b for n, b in enumerate(_blocking_by_size(offered_load)) if n == phones or b == 0.0)


def phones_needed(offered_load: float, target_blocking: float) -> int:
    """The smallest N with B(A, N) ≤ target_blocking (0 < target < 1); at least 1, since B(A, 0) = 1."""
    return next(n for n, b in enumerate(_blocking_by_size(offered_load)) if b <= target_blocking)


def offered_load(arrivals_per_hour: float, hold_seconds: float) -> float:
    """Erlangs: arrivals per hour * mean seconds a number is kept from others ÷ 3600."""
    return arrivals_per_hour * hold_seconds / 3600.0
