"""Logs for a log pipeline: with DNIS_LOG_FORMAT=json, one JSON object per line, an access line
per request, and the request id (the caller's X-Request-Id when sane, else a new one, echoed in
the answer) on every line written for the request."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    ADMIN_TOKEN,
    DNIS,
    DNIS_SOAP,
    JsonLog,
    Tenant,
    add_phones,
    service_on_own_database,
)

ACCESS = "dnis_service.access"
ALLOCATIONS = "dnis_service.domain.allocations"
GENERATED = re.compile(r"[0-9a-f]{32}")
ALLOCATE = f"{DNIS}/allocate/new"


def the_line(lines: list[dict[str, object]]) -> dict[str, object]:
    [line] = lines
    return line


async def test_every_line_is_a_json_object_with_time_level_logger_and_message(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    await add_phones(json_client, tenant, 1)
    await json_client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    lines = json_log.lines()
    assert len(lines) >= 3  # two requests and an allocation
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert line["time"].endswith("Z") and line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")


async def test_access_line_names_method_route_status_duration_tenant_and_request_id(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    [phone] = await add_phones(json_client, tenant, 1)
    response = await json_client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)
    line = the_line(json_log.by(ACCESS, route=f"{DNIS}/allocate/get/{{phone}}"))
    assert (line["method"], line["status"], line["tenant"]) == ("GET", 200, tenant.tenant_id)
    assert line["request_id"] == response.headers["x-request-id"]
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["message"] == f"GET {DNIS}/allocate/get/{{phone}} 200"


async def test_callers_request_id_is_echoed_and_on_the_allocation_line(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    await add_phones(json_client, tenant, 1)
    response = await json_client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web | {"X-Request-Id": "call-42"})
    assert response.headers["x-request-id"] == "call-42"
    allocated = the_line([line for line in json_log.by(ALLOCATIONS) if line["message"].startswith("allocated")])
    assert (allocated["request_id"], allocated["tenant"]) == ("call-42", tenant.tenant_id)
    assert the_line(json_log.by(ACCESS, route=ALLOCATE))["request_id"] == "call-42"


async def test_request_id_is_on_the_release_line(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    [phone] = await add_phones(json_client, tenant, 1)
    await json_client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    await json_client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user | {"X-Request-Id": "end-7"})
    freed = the_line([line for line in json_log.by(ALLOCATIONS) if line["message"].startswith("freed")])
    assert freed["request_id"] == "end-7"


async def test_request_id_is_generated_when_the_caller_sends_none(json_client: httpx.AsyncClient) -> None:
    first, second = [(await json_client.get("/health/live")).headers["x-request-id"] for _ in range(2)]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


@pytest.mark.parametrize("hostile", [
    b"a" * 129, b"", b"two words", b"line\r\nSet-Cookie: x=1", b"tab\there", b"nul\x00", b"\x1b[31mred",
    "caf\u00e9".encode(), "\u202eevil".encode(), b'quote"d', b"<script>",
], ids=["too-long", "empty", "space", "crlf", "tab", "nul", "escape", "latin", "bidi", "quote", "markup"])
async def test_hostile_request_id_is_replaced_not_echoed(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog, hostile: bytes
) -> None:
    response = await json_client.get(DNIS, headers=tenant.dnis_user | {"X-Request-Id": hostile})  # type: ignore[dict-item]
    given = response.headers["x-request-id"]
    assert GENERATED.fullmatch(given)
    assert the_line(json_log.by(ACCESS, route=DNIS))["request_id"] == given


async def test_soap_request_gets_a_request_id(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    body = (Path(__file__).parent / "contract" / "envelopes" / "FreeDnisAllocationRequest.xml").read_bytes()
    answer = await json_client.post(DNIS_SOAP, content=body, headers=tenant.dnis_user | {
        "Content-Type": "text/xml; charset=utf-8", "X-Request-Id": "soap-1"})
    assert answer.headers["x-request-id"] == "soap-1"
    line = the_line(json_log.by(ACCESS, route=DNIS_SOAP))
    assert (line["method"], line["request_id"], line["tenant"]) == ("POST", "soap-1", tenant.tenant_id)


async def test_operator_request_is_logged_with_the_tenant_of_its_path(
    json_client: httpx.AsyncClient, tenant: Tenant, json_log: JsonLog
) -> None:
    await json_client.get(f"/admin/v1/tenants/{tenant.tenant_id}/settings",
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    line = the_line(json_log.by(ACCESS, route="/admin/v1/tenants/{tenant_id}/settings"))
    assert (line["status"], line["tenant"]) == (200, tenant.tenant_id)


async def test_text_format_keeps_the_terminal_free_of_access_lines(
    client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    await add_phones(client, tenant, 1)
    response = await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    assert GENERATED.fullmatch(response.headers["x-request-id"])
    assert [r.name for r in caplog.records if r.name == ACCESS] == []
    assert [r for r in caplog.records if r.getMessage().startswith("allocated tenant=")]


def test_service_process_writes_only_json_lines(server_url: str, tmp_path: Path) -> None:
    with service_on_own_database(server_url, tmp_path, DNIS_LOG_FORMAT="json") as (service, tenant):
        answer = httpx.post(service.url + ALLOCATE, json={"id": "u1"}, headers=tenant.web | {"X-Request-Id": "p-1"})
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "p-1"
        assert service.terminate() == 0
    lines = [json.loads(line) for line in service.log().splitlines()]
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # the server's own lines too
    assert [line["request_id"] for line in lines if line["message"].startswith("allocated")] == ["p-1"]
    access = [line for line in lines if line["logger"] == ACCESS and line["route"] == ALLOCATE]
    assert [(line["status"], line["tenant"], line["request_id"]) for line in access] == [(200, "12345678", "p-1")]


def test_asyncpg_reconnect_failures_are_one_line_with_the_reason() -> None:
    """While the database is down asyncpg's pool logs each failed reconnection with a traceback."""
    code = """
import logging
from dnis_service.logs import configure_logging
configure_logging("text", "INFO")
try:
    raise ConnectionRefusedError("connection refused")
except OSError:
    logging.getLogger("asyncpg.pool").warning("Failed to restore the pool connection floor; retrying", exc_info=True)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    [line] = result.stderr.splitlines()
    assert line.endswith("retrying error=ConnectionRefusedError: connection refused")
