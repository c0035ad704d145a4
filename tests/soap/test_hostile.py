"""Hostile XML is refused before parsing: a SOAP Client fault (HTTP 500, SOAP 1.1), never a
file's content, never a JSON error, never a stack trace."""

from __future__ import annotations

import pytest

from tests.conftest import AGENT_SOAP, DNIS_SOAP, SOAP_ENV, Tenant, post_soap

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
