"""Loads the SQL shipped in the package: named query blocks (headers `-- name: <name>`) and the
numbered migrations.

The files are edited in the repository's top-level sql/ folder, which the build installs as the
package dnis_service.sql; importlib.resources finds them however the package was installed.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def sql_folder(name: str) -> Traversable:
    """sql/<name> (queries or migrations) as installed."""
    return files("dnis_service.sql").joinpath(name)


def sql_files(name: str) -> list[Traversable]:
    """The .sql files of sql/<name>, sorted by file name."""
    return sorted((f for f in sql_folder(name).iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


@cache
def all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for file in sql_files("queries"):
        parts = _HEADER.split(file.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise RuntimeError(f"query {name!r} is defined twice ({file.name})")
            queries[name] = body.strip()
    return queries


def query(name: str) -> str:
    """The SQL text of one named query; a missing name is a programming error."""
    return all_queries()[name]
