"""Each SOAP endpoint's WSDL declares every operation the endpoint accepts, each operation's
elements in its own namespace (the agent endpoint serves the DNIS namespace's operations too),
and the endpoint accepts an operation's element in that namespace only."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.conftest import AGENT_SOAP, DNIS_SOAP, SOAP_ENV, Tenant, post_soap

AGENT_NS = "http://com/jacada/interact/agent/soap"
DNIS_NS = "http://com/jacada/interact/dnis/soap"
DNIS_OPERATIONS = {"FreeDnisAllocation": DNIS_NS, "CreatePhone": DNIS_NS}
AGENT_OPERATIONS = {
    "GetInteractionUniqueId": AGENT_NS, "GetDnisAllocation": AGENT_NS, "AllocateDnis": AGENT_NS,
    "UpdateIncomingCallsCount": AGENT_NS, "CampaignSMS": AGENT_NS, **DNIS_OPERATIONS,
}
WSDLS = {f"{AGENT_SOAP}/agent.wsdl": AGENT_OPERATIONS, f"{DNIS_SOAP}/dnis.wsdl": DNIS_OPERATIONS}
DECLARED = [(wsdl, operation, namespace) for wsdl, operations in WSDLS.items()
            for operation, namespace in operations.items()]
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
NAMES = {"wsdl": WSDL, "xs": XS}


async def fetch_wsdl(client, path: str) -> etree._Element:
    response = await client.get(path)
    assert response.status_code == 200
    return etree.fromstring(response.content)


def qname(element: etree._Element, attribute: str) -> str:
    """The attribute's prefixed name as {namespace}name."""
    prefix, _, name = element.get(attribute).partition(":")
    return f"{{{element.nsmap[prefix]}}}{name}"


def declaring_namespaces(wsdl: etree._Element, element_name: str) -> list[str]:
    """The target namespaces of the schemas that declare a top-level element of that name."""
    return [schema.get("targetNamespace") for schema in wsdl.iterfind("wsdl:types/xs:schema", NAMES)
            if schema.find(f"xs:element[@name='{element_name}']", NAMES) is not None]


@pytest.mark.parametrize("wsdl_path", WSDLS)
async def test_wsdl_declares_every_operation_of_its_endpoint(client, wsdl_path: str) -> None:
    wsdl = await fetch_wsdl(client, wsdl_path)
    for path in ("wsdl:portType/wsdl:operation", "wsdl:binding/wsdl:operation"):
        assert {operation.get("name") for operation in wsdl.iterfind(path, NAMES)} == set(WSDLS[wsdl_path])


@pytest.mark.parametrize(("wsdl_path", "operation", "namespace"), DECLARED)
async def test_each_operation_has_its_elements_in_its_own_namespace(
    client, wsdl_path: str, operation: str, namespace: str
) -> None:
    wsdl = await fetch_wsdl(client, wsdl_path)
    target = wsdl.get("targetNamespace")
    declared = wsdl.find(f"wsdl:portType/wsdl:operation[@name='{operation}']", NAMES)
    for direction, suffix in (("input", "Request"), ("output", "Response")):
        reference = qname(declared.find(f"wsdl:{direction}", NAMES), "message")
        assert reference == f"{{{target}}}{operation}{suffix}"  # a wsdl:message is in the WSDL's namespace
        message = wsdl.find(f"wsdl:message[@name='{operation}{suffix}']", NAMES)
        assert qname(message.find("wsdl:part", NAMES), "element") == f"{{{namespace}}}{operation}{suffix}"
        assert declaring_namespaces(wsdl, f"{operation}{suffix}") == [namespace]


@pytest.mark.parametrize("wsdl_path", WSDLS)
async def test_wsdl_has_one_service_with_one_port(client, wsdl_path: str) -> None:
    wsdl = await fetch_wsdl(client, wsdl_path)
    assert len(wsdl.findall("wsdl:service", NAMES)) == 1
    assert len(wsdl.findall("wsdl:service/wsdl:port", NAMES)) == 1


def envelope(namespace: str, operation: str, body: str) -> bytes:
    return (f'<e:Envelope xmlns:e="{SOAP_ENV}" xmlns:s="{namespace}"><e:Body><s:{operation}Request>{body}'
            f"</s:{operation}Request></e:Body></e:Envelope>").encode()


@pytest.mark.parametrize(
    ("namespace", "operation", "body"),
    [(AGENT_NS, "FreeDnisAllocation", "<s:phone>155501</s:phone>"),
     (DNIS_NS, "GetDnisAllocation", "<s:phone>155501</s:phone>")],
    ids=["FreeDnisAllocation in the agent namespace", "GetDnisAllocation in the DNIS namespace"],
)
async def test_an_operation_in_another_namespace_is_unknown(
    client, tenant: Tenant, namespace: str, operation: str, body: str
) -> None:
    answer = await post_soap(client, AGENT_SOAP, envelope(namespace, operation, body), tenant.dnis_user)
    assert answer.fault == ((SOAP_ENV, "Client"), "Unknown operation")
