"""Serves spyne applications in-process on the app's event loop: refuse hostile XML, parse with
spyne, await the operation's coroutine, serialise its answer or fault."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lxml import etree
from lxml.builder import E
from spyne import Application, Fault
from spyne.protocol.soap import Soap11
from spyne.server import ServerBase
from spyne.server.http import HttpMethodContext, HttpTransportContext

from dnis_service import metrics
from dnis_service.domain.errors import (
    DATABASE_DOWN,
    DATABASE_UNAVAILABLE,
    DnisError,
    InvalidInput,
    NotAuthenticated,
    PasswordChecksBusy,
)
from dnis_service.soap.services import SoapCall
from dnis_service.soap.wsdl import Documents

log = logging.getLogger(__name__)
# spyne logs every unparsable request body at ERROR: a client's mistake, answered with a fault.
logging.getLogger("spyne.protocol.soap.soap11.invalid").setLevel(logging.CRITICAL)

XML = "text/xml; charset=utf-8"
VALIDATION_ERROR = "Validation error"
NO_DTD = "DTDs and entities are not allowed"


class _Transport(HttpTransportContext):  # type: ignore[misc]
    def get_request_method(self) -> str:
        return "POST"

    def get_request_content_type(self) -> str:
        content_type: str = self.req.get("content_type", XML)
        return content_type


class _Context(HttpMethodContext):  # type: ignore[misc]
    HttpTransportContext = _Transport


_SOAP_CODES = ("Client", "Server", "VersionMismatch", "MustUnderstand")


class _Soap11(Soap11):  # type: ignore[misc]
    """Soap11 whose faults look like the vendor's: a code of its own (0x7000000) goes out bare,
    not as 'soap11env:0x7000000', and there is no empty faultactor. It finds an operation by its
    request element's own namespace, so one application serves operations of several namespaces."""

    @cached_property
    def _operations(self) -> dict[str, list[Any]]:
        """The operations by their request element's qualified name. Spyne keys them all under the
        application's namespace, so it would not find the DNIS ones on the agent endpoint."""
        return {f"{{{handles[0].in_message.get_namespace()}}}{handles[0].name}": handles
                for handles in self.app.interface.service_method_map.values()}

    def get_call_handles(self, ctx: Any) -> list[Any]:
        return self._operations.get(ctx.method_request_string, [])

    def fault_to_parent(self, ctx: Any, cls: Any, inst: Fault, parent: Any, ns: Any, *args: Any, **kwargs: Any) -> Any:
        code = inst.faultcode
        qualified = code.split(".")[0] in _SOAP_CODES
        subelements = [
            E("faultcode", f"{self.soap_env}:{code}" if qualified else code),
            E("faultstring", inst.faultstring),
        ]
        return self._fault_to_parent_impl(ctx, cls, inst, parent, ns, subelements)


class _Server(ServerBase):  # type: ignore[misc]
    transport = "http://schemas.xmlsoap.org/soap/http"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class SoapApplication:
    """One spyne application: its parser and serialiser, and its WSDL at a pinned address. Its
    services may be of several namespaces (see _Soap11 and soap/wsdl.py)."""

    def __init__(self, services: list[Any], namespace: str, name: str, address: str) -> None:
        app = Application(services, tns=namespace, name=name, in_protocol=_Soap11(validator="lxml"),
                          out_protocol=_Soap11(), documents_container=Documents)
        self._server = _Server(app)
        wsdl = app.interface.docs.wsdl11
        # The address callers see is the configured public URL, not a Host header.
        wsdl.build_interface_document(address)
        self.wsdl: bytes = wsdl.get_interface_document()

    def _request(self, body: bytes, content_type: str) -> Any:
        """The spyne context of a request, its operation found and its arguments read."""
        context = _Context(self._server, {"content_type": content_type}, XML)
        context.in_string = [body]
        try:
            context = self._server.generate_contexts(context)[0]
            if not context.in_error:
                self._server.get_in_object(context)
        except Exception:  # spyne trips over envelopes it cannot take apart (an empty or text Body)
            raise Fault("Client", VALIDATION_ERROR) from None
        if context.in_error:
            raise _client_fault(context.in_error)
        return context

    async def answer(self, body: bytes, content_type: str, call: SoapCall, endpoint: str) -> Answer:
        operation = "unknown"
        try:
            context = self._request(body, content_type)
            operation = context.descriptor.name
            context.udc = call
            self._server.get_out_object(context)
            if context.out_error:
                raise context.out_error
            context.out_object = await _awaited(context.out_object)
        except Exception as error:
            fault = fault_for(error)
            metrics.soap_call(endpoint, operation, outcome_of(fault))
            return Answer(500, self.fault(fault))
        self._server.get_out_string(context)
        metrics.soap_call(endpoint, operation, "ok")
        return Answer(200, b"".join(context.out_string))

    def fault(self, fault: Fault) -> bytes:
        """A fault envelope, on a context of its own: the request's may be half built."""
        context = _Context(self._server, {}, XML)
        context.out_error = fault
        self._server.get_out_string(context)
        return b"".join(context.out_string)


async def _awaited(out_object: Any) -> Any:
    """Spyne keeps a single answer as [coroutine] and several as the coroutine of a tuple."""
    if inspect.iscoroutine(out_object):
        return await out_object
    return [await out_object[0]]


def _client_fault(error: Any) -> Fault:
    """Spyne's parse and schema errors as the vendor's Client faults (an unknown operation named so)."""
    code = str(getattr(error, "faultcode", ""))
    detail = str(getattr(error, "faultstring", ""))
    if "ResourceNotFound" in code or "No matching global declaration" in detail:
        return Fault("Client", "Unknown operation")
    return Fault("Client", VALIDATION_ERROR)


def fault_for(error: BaseException) -> Fault:
    """The vendor's faults: 0x7000000 for credentials, Client for invalid input and other domain
    errors (a throttled password among them), Server for what the service cannot do now, never a
    stack trace."""
    if isinstance(error, Fault):
        return error
    if isinstance(error, NotAuthenticated):
        return Fault("0x7000000", error.message)
    if isinstance(error, InvalidInput):
        return Fault("Client", VALIDATION_ERROR)
    if isinstance(error, PasswordChecksBusy):  # REST's 503: the service is busy, not the client wrong
        return Fault("Server", error.message)
    if isinstance(error, DnisError):
        return Fault("Client", error.message)
    if isinstance(error, DATABASE_DOWN):
        return Fault("Server", DATABASE_UNAVAILABLE)
    log.exception("SOAP operation failed")
    return Fault("Server", "Internal error")


def outcome_of(fault: Fault) -> str:
    code = str(fault.faultcode)
    if code == "0x7000000":
        return "unauthenticated"
    return "client_fault" if code.startswith("Client") else "server_fault"


class SoapEndpoint:
    """A SOAP URL: hostile-input checks, then its application."""

    def __init__(self, name: str, application: SoapApplication, max_body: int) -> None:
        self.name = name
        self.application = application
        self.max_body = max_body

    def refuse(self, reason: str) -> Answer:
        """A Client fault, before the body was parsed."""
        metrics.soap_call(self.name, "unknown", "client_fault")
        return Answer(500, self.application.fault(Fault("Client", reason)))

    async def answer(self, body: bytes, content_type: str, call: SoapCall) -> Answer:
        if len(body) > self.max_body:
            return self.refuse(f"Request body over {self.max_body} bytes")
        try:
            refuse_dtd(body)
        except _DtdFound:
            return self.refuse(NO_DTD)
        except etree.XMLSyntaxError:
            return self.refuse(VALIDATION_ERROR)
        return await self.application.answer(body, content_type, call, self.name)


class _DtdFound(Exception):
    pass


class _DtdRefusingTarget:
    """An lxml parser target that builds nothing (it has no start, end or data) and stops the
    parse at a DOCTYPE."""

    def doctype(self, name: str | None, public_id: str | None, system_url: str | None) -> None:
        raise _DtdFound()

    def close(self) -> None:
        pass


def refuse_dtd(body: bytes) -> None:
    """Raise _DtdFound if the document has a DOCTYPE (XXE and entity bombs come in one; these
    operations never need one), XMLSyntaxError if it is not well-formed XML.

    Parsed, not searched for bytes: libxml2 reads the encoding as the XML specification says (a
    byte-order mark, else the first bytes and the declaration: UTF-16 or UTF-32 in either byte
    order, Latin-1, ...), and the parse stops at the DOCTYPE, before its internal subset. Nothing
    is loaded, resolved or built on the way."""
    parser = etree.XMLParser(target=_DtdRefusingTarget(), resolve_entities=False, no_network=True, load_dtd=False)
    etree.fromstring(body, parser)


# A client that stops sending its body mid-way is answered (a Client fault) after this long.
BODY_READ_SECONDS = 30.0


class BodyTooSlow(Exception):
    """The client did not send the rest of its body within BODY_READ_SECONDS."""


async def read_body(receive: Any, limit: int) -> bytes:
    """The request body, but never more than limit + 1 bytes of it (enough to know it is too big)."""
    body = bytearray()
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout=BODY_READ_SECONDS)
        except TimeoutError:
            raise BodyTooSlow(f"Request body not received within {BODY_READ_SECONDS:g} s") from None
        body += message.get("body", b"")[: limit + 1 - len(body)]
        if not message.get("more_body"):
            return bytes(body)
