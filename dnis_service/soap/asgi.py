"""The SOAP endpoints as litestar mounts, on the same app and port as REST (docs/soap.md)."""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.handlers.asgi_handlers import ASGIRouteHandler
from litestar.types import HTTPResponseStartEvent, Receive, Scope, Send

from dnis_service.config import Settings
from dnis_service.domain.auth import Credentials
from dnis_service.soap.server import (
    XML,
    Answer,
    BodyTooSlow,
    SoapApplication,
    SoapEndpoint,
    read_body,
)
from dnis_service.soap.services import AGENT_NS, DNIS_NS, AgentService, DnisService, SoapCall

AGENT_PATH = "/interact/version/2/agent/soap"
DNIS_PATH = "/interact/version/2/dnis/soap"


def soap_routes(settings: Settings) -> list[ASGIRouteHandler]:
    dnis = SoapApplication([DnisService], DNIS_NS, "DnisService", settings.public_url + DNIS_PATH)
    # The agent endpoint also serves the DNIS namespace's operations, as the vendor's pages show.
    agent = SoapApplication([AgentService, DnisService], AGENT_NS, "AgentService", settings.public_url + AGENT_PATH)
    limit = settings.soap_max_body_bytes
    return [
        _mount(AGENT_PATH, "agent.wsdl", SoapEndpoint("agent", agent, limit)),
        _mount(DNIS_PATH, "dnis.wsdl", SoapEndpoint("dnis", dnis, limit)),
    ]


def _credentials(scope: Scope) -> Credentials:
    return Credentials.from_headers(
        {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
    )


async def _send(send: Send, answer: Answer, content_type: str = XML) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(answer.body)).encode())]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": answer.status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


def _mount(path: str, wsdl_name: str, endpoint: SoapEndpoint) -> ASGIRouteHandler:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        rest = scope["path"][len(path):] if scope["path"].startswith(path) else scope["path"]
        query = scope.get("query_string", b"").lower()
        method = scope.get("method", "GET")
        if method == "GET" and (rest.strip("/") == wsdl_name or (rest.strip("/") == "" and query == b"wsdl")):
            await _send(send, Answer(200, endpoint.application.wsdl))
        elif method == "POST" and rest.strip("/") == "":
            state: Any = scope["app"].state
            try:
                body = await read_body(receive, endpoint.max_body)
            except BodyTooSlow as slow:
                await _send(send, endpoint.refuse(str(slow)))
                return
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", XML.encode()).decode("latin-1")
            call = SoapCall(state.db, state.authenticator, _credentials(scope), state.limits)
            await _send(send, await endpoint.answer(body, content_type, call))
        else:
            await _send(send, Answer(404, b"Not found"), "text/plain")

    serve.__name__ = f"soap_{endpoint.name}"
    return asgi(path, is_mount=True, copy_scope=True, name=f"soap-{endpoint.name}")(serve)
