"""Loads the named SQL blocks of sql/queries/*.sql (headers `-- name: <name>`)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


@cache
def _all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted((SQL_DIR / "queries").glob("*.sql")):
        parts = _HEADER.split(path.read_text())
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise RuntimeError(f"query {name!r} is defined twice ({path.name})")
            queries[name] = body.strip()
    return queries


def query(name: str) -> str:
    """The SQL text of one named query; a missing name is a programming error."""
    return _all_queries()[name]
