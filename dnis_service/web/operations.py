"""Operations endpoints: liveness, readiness, Prometheus metrics; and what is recorded of every HTTP
request: its id, metrics and access log line."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable
from functools import cache
from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dnis_service import logs, metrics
from dnis_service.db.deadline import deadline
from dnis_service.db.migrations import latest_version, schema_version

READY_TIMEOUT_SECONDS = 2.0
access = logging.getLogger("dnis_service.access")


@get("/health/live", media_type=MediaType.JSON, tags=["operations"])
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "live"}


@get("/health/ready", media_type=MediaType.JSON, tags=["operations"])
async def ready(state: State) -> Response[dict[str, Any]]:
    """The database answers and its schema is the one this version expects."""
    try:
        with deadline(READY_TIMEOUT_SECONDS):
            version = await schema_version(state.db)
    except Exception as error:
        body = {"status": "not ready", "reason": f"database unreachable ({type(error).__name__})"}
        return Response(body, status_code=503)
    if version < latest_version():
        body = {"status": "not ready", "reason": f"schema at version {version}, expected {latest_version()}"}
        return Response(body, status_code=503)
    return Response({"status": "ready", "schema": version, "credentialCache": _credential_cache_state(state)})


def _credential_cache_state(state: State) -> str:
    """'listening' while the credential cache may answer, 'not listening' while its notification
    connection is down (every request then asks the database), 'off' when turned off."""
    if state.settings.auth_cache_seconds == 0:
        return "off"
    return "listening" if state.authenticator.credential_cache.listening else "not listening"


@get("/metrics", tags=["operations"])
async def prometheus() -> Response[bytes]:
    """Prometheus text format. Gauges come from the last job snapshot: a scrape never queries."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@cache
def route_label(path_template: str) -> str:
    """'/dnis/allocate/free/{phone:str}' -> '/dnis/allocate/free/{phone}'."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path_template)


def route_of(scope: Scope) -> str:
    """The request's route template; a mount's requests (the SOAP endpoints) have none: its path."""
    template = scope.get("path_template")
    if template:
        return route_label(template)
    handler = scope.get("route_handler")
    return min(handler.paths) if handler is not None else "unmatched"


REQUEST_ID_HEADER = b"x-request-id"
# An id a caller sends is taken as it is only when it cannot garble a log line or a header.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+=/-]{1,128}")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-Id when it is sane, else a new id."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(16)


class HttpRequestMiddleware(ASGIMiddleware):
    """Around every HTTP request, REST and SOAP alike: a request id for its log lines, echoed in
    X-Request-Id; its count and duration by method, route template (never the raw path) and
    status; with access_log, one log line; and inside all that, the request's database waits
    under one deadline of `deadline_seconds` (db/deadline.py). One middleware rather than two:
    each layer litestar wraps around every route costs every request a few microseconds."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, access_log: bool, deadline_seconds: float) -> None:
        self.access_log = access_log
        self.deadline_seconds = deadline_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500
        request = logs.RequestContext(request_id(scope["headers"]))
        echoed = (REQUEST_ID_HEADER, request.request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = logs.begin_request(request)
        try:
            with deadline(self.deadline_seconds):
                await next_app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method, route = str(scope.get("method", "")), route_of(scope)
            metrics.http_request(method, route, status, seconds)
            if self.access_log:
                tenant = request.tenant or scope.get("path_params", {}).get("tenant_id")
                access.info("%s %s %d", method, route, status, extra={
                    "method": method, "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 3), "tenant": tenant,
                })
            logs.end_request(token)
