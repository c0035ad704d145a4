"""Canonical forms and checks of the values callers send."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from dnis_service.domain.errors import InvalidInput

_SEPARATORS = str.maketrans("", "", " -().")
_DIGITS = re.compile(r"[0-9]{1,20}")
_DN_ID = re.compile(r"[A-Za-z0-9_.+-]{1,32}")
MAX_UNIQUE_ID_LENGTH = 128
MAX_GROUP_LENGTH = 64
# The largest value of a PostgreSQL integer column, where counts and seconds are stored.
MAX_INTEGER = 2**31 - 1
# The longest page a listing returns, and the page it returns when none is asked for.
MAX_PAGE = 1000
DEFAULT_PAGE = 100
# A whole number as a query parameter writes it: ASCII decimal digits, perhaps a minus sign. More
# than 18 digits are out of every range here (and Python refuses to read thousands of them).
_DECIMAL = re.compile(r"-?[0-9]{1,18}")


def canonical_phone(raw: str) -> str | None:
    """Digits only: a leading '+' and the separators ' -().' are dropped; None if that is not a number."""
    text = raw.strip()
    if text.startswith("+"):
        text = text[1:]
    text = text.translate(_SEPARATORS)
    return text if _DIGITS.fullmatch(text) else None


def phone_number(raw: object, field: str = "phoneNumber") -> str:
    if not isinstance(raw, str):
        raise InvalidInput(f"{field}: must be a string of digits")
    number = canonical_phone(raw)
    if number is None:
        raise InvalidInput(f"{field}: '{raw[:40]}' is not a phone number (1 to 20 digits, optional + and separators)")
    return number


def dn_id(raw: object, field: str = "dnId") -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _DN_ID.fullmatch(raw):
        raise InvalidInput(f"{field}: must be 1 to 32 letters, digits or _.+-")
    return raw


def group_name(raw: object, field: str = "groupName") -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > MAX_GROUP_LENGTH:
        raise InvalidInput(f"{field}: must be a string of at most {MAX_GROUP_LENGTH} characters")
    return raw.strip()


def unique_id(raw: object, field: str = "id") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"{field}: must be a non-empty string")
    if len(raw) > MAX_UNIQUE_ID_LENGTH:
        raise InvalidInput(f"{field}: must be at most {MAX_UNIQUE_ID_LENGTH} characters")
    return raw


def enabled_flag(raw: object, field: str = "enabled") -> bool:
    if raw is None:
        return True
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.strip().lower() in ("true", "1", "yes")
    raise InvalidInput(f"{field}: must be true or false")


def integer(raw: object, field: str, low: int = 1, high: int = MAX_INTEGER) -> int:
    """A JSON integer from low to high (true and false are not integers)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        if high != MAX_INTEGER:
            wanted = f"an integer from {low} to {high}"
        else:
            wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer of at least {low}")
            wanted += f" (at most {MAX_INTEGER})"
        raise InvalidInput(f"{field}: must be {wanted}")
    return raw


def decimal_integer(raw: object, field: str, low: int = 1, high: int = MAX_INTEGER) -> int:
    """A query parameter's integer, written in decimal digits ("60"; not "60.0", "1e3" or " 60"),
    from low to high."""
    value = int(raw) if isinstance(raw, str) and _DECIMAL.fullmatch(raw) else None
    return integer(value, field, low, high)


def moment(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 instant (a time without an offset is taken as UTC) whose UTC value lies in the
    years 1 to 9999, the range of Python's datetime: 9999-12-31T23:59-01:00 is in no year a reply
    can show."""
    if text is None:
        return None
    try:
        raw = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field}: must be an ISO 8601 time, e.g. 2026-11-23T14:05:00Z") from None
    if raw.tzinfo is None:
        return raw.replace(tzinfo=UTC)
    try:
        raw.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{field}: must lie within the years 1 to 9999 in UTC") from None
    return raw


def number(raw: object, field: str, low: float, high: float) -> float:
    """A finite number from low to high (true and false are not numbers)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or not low <= raw <= high:
        raise InvalidInput(f"{field}: must be a number from {low:g} to {high:g}")
    return float(raw)


def probability(raw: object, field: str) -> float:
    """A number greater than 0 and less than 1."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < 1:
        raise InvalidInput(f"{field}: must be a number greater than 0 and less than 1")
    return float(raw)
