"""Hostile XML is refused before parsing: a SOAP Client fault (HTTP 500, SOAP 1.1), never a
file's content, never a JSON error, never a stack trace."""

from __future__ import annotations

import asyncio

import pytest

from dnis_service.soap.services import AGENT_NS
from tests.conftest import AGENT_SOAP, DNIS_SOAP, SOAP_ENV, Tenant, add_phones, post_soap

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:soap="http://com/jacada/interact/dnis/soap">
<soapenv:Body><soap:FreeDnisAllocationRequest><soap:phone>&xxe;</soap:phone></soap:FreeDnisAllocationRequest>
</soapenv:Body></soapenv:Envelope>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:soap="http://com/jacada/interact/agent/soap">
<soapenv:Body><soap:GetDnisAllocationRequest><soap:phone>&lol5;</soap:phone></soap:GetDnisAllocationRequest>
</soapenv:Body></soapenv:Envelope>"""

OVERSIZED = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
             + b"<!-- " + b"x" * 70_000 + b" --></soapenv:Body></soapenv:Envelope>")

UNKNOWN_OPERATION = b"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:soap="http://com/jacada/interact/agent/soap">
<soapenv:Body><soap:LaunchMissilesRequest><soap:target>moon</soap:target></soap:LaunchMissilesRequest>
</soapenv:Body></soapenv:Envelope>"""


@pytest.mark.parametrize(
    "body",
    [XXE, BILLION_LAUGHS, OVERSIZED, b"\x00\xff not xml at all", UNKNOWN_OPERATION, b""],
    ids=["external entity", "billion laughs", "over the size limit", "non-XML bytes", "unknown operation",
         "empty body"],
)
@pytest.mark.parametrize("path", [AGENT_SOAP, DNIS_SOAP])
async def test_hostile_input_is_a_client_fault(client, tenant: Tenant, path: str, body: bytes) -> None:
    answer = await post_soap(client, path, body, tenant.dnis_user)
    assert answer.status == 500
    assert answer.content_type.startswith("text/xml")
    assert answer.fault is not None
    assert answer.fault[0] == (SOAP_ENV, "Client")


async def test_an_external_entity_is_never_read(client, tenant: Tenant) -> None:
    from lxml import etree

    answer = await post_soap(client, AGENT_SOAP, XXE, tenant.dnis_user)
    text = etree.tostring(answer.xml).decode()
    assert "root:" not in text
    assert "Traceback" not in text
    assert answer.fault is not None and "DTD" in answer.fault[1]


async def test_the_size_limit_is_named_in_the_fault(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, OVERSIZED, tenant.dnis_user)
    assert answer.fault is not None and "65536" in answer.fault[1]


async def test_unknown_operation_is_named_as_such(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, UNKNOWN_OPERATION, tenant.dnis_user)
    assert answer.fault == ((SOAP_ENV, "Client"), "Unknown operation")


def envelope(body: str) -> str:
    return ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:soap="http://com/jacada/interact/agent/soap">{body}</soapenv:Envelope>')


@pytest.mark.parametrize("body", [
    "<soapenv:Body/>", "<soapenv:Body>   \n </soapenv:Body>", "<soapenv:Body>text</soapenv:Body>",
    "<soapenv:Header/>", "",
], ids=["empty Body", "blank Body", "text Body", "no Body", "empty Envelope"])
@pytest.mark.parametrize("path", [AGENT_SOAP, DNIS_SOAP])
async def test_an_envelope_without_an_operation_is_a_client_fault(client, tenant: Tenant, path: str, body) -> None:
    answer = await post_soap(client, path, envelope(body).encode(), tenant.dnis_user)
    assert (answer.status, answer.fault) == (500, ((SOAP_ENV, "Client"), "Validation error"))


XXE_TEXT = XXE.decode().replace('<?xml version="1.0"?>', "")


@pytest.mark.parametrize(("declared", "encoding"), [
    ("UTF-16", "utf-16"), ("UTF-16", "utf-16-le"), ("UTF-16", "utf-16-be"), ("UTF-32", "utf-32"),
    (None, "utf-16"), (None, "utf-32"), ("ISO-8859-1", "latin-1"), ("UTF-8", "utf-8-sig"), ("UTF-7", "utf-7"),
], ids=str)
async def test_a_dtd_in_any_encoding_is_refused(client, tenant: Tenant, declared: str | None, encoding: str) -> None:
    declaration = f'<?xml version="1.0" encoding="{declared}"?>\n' if declared else ""
    answer = await post_soap(client, AGENT_SOAP, (declaration + XXE_TEXT).encode(encoding), tenant.dnis_user)
    assert (answer.status, answer.fault) == (500, ((SOAP_ENV, "Client"), "DTDs and entities are not allowed"))


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
async def test_a_dtd_in_utf16_or_utf32_without_mark_or_declaration_is_a_client_fault(client, tenant, encoding) -> None:
    # The XML specification cannot tell these encodings without a byte-order mark or a declaration;
    # whether the parser finds the DTD or not the document at all, the caller gets a Client fault.
    answer = await post_soap(client, AGENT_SOAP, XXE_TEXT.encode(encoding), tenant.dnis_user)
    assert answer.status == 500
    assert answer.fault is not None and answer.fault[0] == (SOAP_ENV, "Client")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
async def test_an_envelope_in_another_unicode_encoding_is_answered(client, tenant: Tenant, encoding: str) -> None:
    await add_phones(client, tenant, 1)
    request = envelope("<soapenv:Body><soap:GetDnisAllocationRequest><soap:phone>15550000009</soap:phone>"
                       "</soap:GetDnisAllocationRequest></soapenv:Body>")
    answer = await post_soap(client, AGENT_SOAP, request.encode(encoding), tenant.dnis)
    assert answer.status == 200
    assert answer.text_of(AGENT_NS, "GetDnisAllocationResponse", "uniqueId") == "Phone number 15550000009 was not found"


async def test_a_client_that_stops_sending_its_body_gets_a_client_fault(client, tenant: Tenant, monkeypatch) -> None:
    from lxml import etree

    from dnis_service.soap import server

    monkeypatch.setattr(server, "BODY_READ_SECONDS", 0.2)

    async def stalling_body():
        yield b"<soapenv:Envelope xmlns:soapenv="
        await asyncio.sleep(30)

    response = await client.post(AGENT_SOAP, content=stalling_body(), headers=tenant.web | {"Content-Type": "text/xml"})
    fault = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert response.status_code == 500
    assert fault.findtext("faultstring") == "Request body not received within 0.2 s"
