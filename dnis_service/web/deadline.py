"""Every HTTP request, REST or SOAP, does its database work under one deadline (db/deadline.py)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from dnis_service.db.deadline import deadline


class DatabaseDeadlineMiddleware(ASGIMiddleware):
    """The request's waits on the database, together, end within `seconds` of the first one."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        with deadline(self.seconds):
            await next_app(scope, receive, send)
