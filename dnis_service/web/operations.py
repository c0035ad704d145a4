"""Operations endpoints: liveness, readiness, Prometheus metrics; and the HTTP metrics."""

from __future__ import annotations

import re
import time
from functools import cache
from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dnis_service import metrics
from dnis_service.db.deadline import deadline
from dnis_service.db.migrations import latest_version, schema_version

READY_TIMEOUT_SECONDS = 2.0


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


class HttpMetricsMiddleware(ASGIMiddleware):
    """Counts and times requests by method, route template (never the raw path) and status."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, remember_status)
        finally:
            labels = (scope.get("method", ""), route_label(scope.get("path_template") or "unmatched"), str(status))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_SECONDS.labels(*labels).observe(time.perf_counter() - started)
