"""Password hashing with scrypt, and a cache that keeps the KDF off the hot path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

# About 50 ms per hash on our machines: slow for a guesser, paid once per cache period.
_N, _R, _P = 2**14, 8, 1
_CACHE_SECONDS = 300.0
_CACHE_SIZE = 10_000


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _verify_slow(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


class VerificationCache:
    """Remembers successful verifications for a few minutes.

    Keyed by the stored hash, so that a changed password or a deleted user (whose hash is
    read from the database on every request) takes effect at once, on every replica.
    """

    def __init__(self, seconds: float = _CACHE_SECONDS, size: int = _CACHE_SIZE) -> None:
        self._seconds = seconds
        self._size = size
        self._entries: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def verify(self, password: str, stored: str) -> bool:
        key = (stored, hashlib.sha256(password.encode()).digest())
        now = time.monotonic()
        valid_until = self._entries.get(key)
        if valid_until is not None and valid_until > now:
            return True
        if not _verify_slow(password, stored):
            return False
        self._entries[key] = now + self._seconds
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return True
