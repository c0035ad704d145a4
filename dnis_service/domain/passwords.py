"""Password hashing with scrypt on the KDF pool (never on the event loop), and the cache of
successful verifications that keeps the KDF off the hot path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from dnis_service import metrics
from dnis_service.domain.kdf_pool import KdfPool

# About 50 ms per hash on our machines: slow for a guesser, paid once per cache period.
_N, _R, _P = 2**14, 8, 1
_DIGEST_BYTES = 32
_CACHE_SECONDS = 300.0
_CACHE_SIZE = 10_000
# One thread hashes, 15 more checks may wait for it (about 0.6 s at most); beyond that a check is
# refused at once (503): waiting longer only piles requests up. A second thread hashed no faster
# on two cores shared with PostgreSQL, and doubled the other requests' median latency under a
# flood (bench/README.md); with one, the KDF never takes more than one core from the event loop.
KDF_WORKERS = 1
KDF_WAITING = 15
KDF_POOL = KdfPool(KDF_WORKERS, KDF_WAITING)
# What an unknown user's password is checked against, so that it costs what a known user's does.
_NOBODY_SALT = secrets.token_bytes(16)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int, purpose: str) -> bytes:
    metrics.password_kdf_run(purpose)
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length)


def _hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P, _DIGEST_BYTES, "hash")
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


async def hash_password(password: str) -> str:
    """The stored form of a new password (PasswordChecksBusy when the KDF pool is full)."""
    return await KDF_POOL.run(_hash, password)


def password_matches(password: str, stored: str | None) -> bool:
    """One KDF run, blocking (run it on KDF_POOL). An unknown user (stored None) costs the same
    as a known one and never matches, so that timing does not tell which user ids exist."""
    if stored is None:
        _scrypt(password, _NOBODY_SALT, _N, _R, _P, _DIGEST_BYTES, "verify")
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected), "verify")
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def password_digest(password: str) -> bytes:
    """What in-memory structures keep instead of the password."""
    return hashlib.sha256(password.encode()).digest()


class VerificationCache:
    """Remembers successful verifications for a few minutes.

    Keyed by the stored hash, so that a changed password or a deleted user (whose hash is
    read from the database on every request) takes effect at once, on every replica.
    """

    def __init__(self, seconds: float = _CACHE_SECONDS, size: int = _CACHE_SIZE) -> None:
        self._seconds = seconds
        self._size = size
        self._entries: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def knows(self, password: str, stored: str) -> bool:
        """Whether this password was verified against this hash within the last `seconds`."""
        valid_until = self._entries.get((stored, password_digest(password)))
        return valid_until is not None and valid_until > time.monotonic()

    def remember(self, password: str, stored: str) -> None:
        key = (stored, password_digest(password))
        self._entries[key] = time.monotonic() + self._seconds
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
