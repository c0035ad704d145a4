"""The service's own allocate → get → free statements as a pgbench script, written at run time from
the named queries (dnis_service.db.queries.query), so that it follows the SQL wherever it goes.

Each operation is one named query and one SQL expression per parameter ($1, $2, ...): a pgbench
variable (`:name`) or an SQL literal. When the SQL of an operation changes (another query, other
arguments), the change here is one line of OPERATIONS.

Variables: :scope_id, :quarantine and :timeout (seconds) come from the driven tenant (pgbench -D);
:run names the run, :client_id is pgbench's own, :step counts this client's cycles (so every cycle
has a fresh interaction id, as the service's load does); :alloc_<column> is what allocate returned
(\\gset with the prefix alloc_).
"""

from __future__ import annotations

import re

from dnis_service.db.queries import query

# op -> (named query, SQL expression for $1, $2, ...), in the order of a cycle.
OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "allocate": ("allocate_phone", (":scope_id", "interaction_id", "NULL", ":quarantine", ":timeout")),
    "get": ("phone_with_holder", (":scope_id", ":alloc_phone_number", ":alloc_phone_number")),
    "free": ("free_phone", (":scope_id", ":alloc_phone_number", ":alloc_phone_number", "NULL")),
}
# A fresh interaction id per cycle, as the wrk load sends: run, client, step.
INTERACTION_ID = "(:run || '-' || :client_id || '-' || :step)"
# The one operation whose answer the next ones use (its columns become :alloc_<column>).
ANSWER_OF = "allocate"

_PARAMETER = re.compile(r"\$(\d+)\b")


def statement(name: str, arguments: tuple[str, ...]) -> str:
    """The named query with $n replaced by the n-th argument expression, on pgbench's terms: no
    comment lines, and a semicolon to end it."""
    text = "\n".join(line for line in query(name).splitlines() if not line.lstrip().startswith("--"))
    used = {int(n) for n in _PARAMETER.findall(text)}
    if used != set(range(1, len(arguments) + 1)):
        raise ValueError(f"query {name!r} takes parameters {sorted(used)}, the table gives {len(arguments)}")

    def argument(match: re.Match[str]) -> str:
        given = arguments[int(match.group(1)) - 1]
        return f"({INTERACTION_ID if given == 'interaction_id' else given})"

    return _PARAMETER.sub(argument, text).strip()


def script() -> str:
    """The pgbench script of one cycle (needs -D step=0 and the variables above)."""
    lines = ["\\set step :step + 1"]
    for op, (name, arguments) in OPERATIONS.items():
        lines.append(f"-- {op}: {name}")
        text = statement(name, arguments)
        lines.append(f"{text}\n\\gset alloc_" if op == ANSWER_OF else f"{text};")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(script(), end="")
