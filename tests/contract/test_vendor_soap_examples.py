"""The vendor's published sample envelopes of FreeDnisAllocation and GetInteractionUniqueId, posted
byte for byte to the agent endpoint, get the answers the vendor shows (element names, namespaces
and texts; prefixes may differ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AGENT_SOAP, DNIS, SOAP_ENV, Tenant, post_soap

ENVELOPES = Path(__file__).parent / "envelopes"
FREE = (ENVELOPES / "FreeDnisAllocationRequest.xml").read_bytes()
LOOKUP = (ENVELOPES / "GetInteractionUniqueIdRequest.xml").read_bytes()
AGENT_NS = "http://com/jacada/interact/agent/soap"
DNIS_NS = "http://com/jacada/interact/dnis/soap"
UNAUTHORIZED = ("0x7000000", "Request is unauthorized, missing or wrong credentials")
VALIDATION = ((SOAP_ENV, "Client"), "Validation error")


async def add_phone_222(client, tenant: Tenant) -> None:
    response = await client.post(DNIS, json={"phoneNumber": "222"}, headers=tenant.dnis_user)
    assert response.status_code == 200


async def test_free_of_an_allocated_phone_answers_success(client, tenant: Tenant) -> None:
    await add_phone_222(client, tenant)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    answer = await post_soap(client, AGENT_SOAP, FREE, tenant.dnis_user)
    assert answer.status == 200
    assert answer.text_of(DNIS_NS, "FreeDnisAllocationResponse", "result") == "Success"
    assert (await client.get(f"{DNIS}/allocate/get/222", headers=tenant.dnis)).text == ""


async def test_free_of_a_phone_not_allocated_answers_not_found(client, tenant: Tenant) -> None:
    await add_phone_222(client, tenant)
    answer = await post_soap(client, AGENT_SOAP, FREE, tenant.dnis_user)
    assert answer.text_of(DNIS_NS, "FreeDnisAllocationResponse", "result") == "Phone number 222 was not found"


async def test_free_of_an_unknown_phone_answers_not_found(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, FREE, tenant.dnis_user)
    assert answer.status == 200
    assert answer.text_of(DNIS_NS, "FreeDnisAllocationResponse", "result") == "Phone number 222 was not found"


async def test_free_with_bad_credentials_is_the_0x7000000_fault(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, FREE, tenant.dnis)  # no user credentials
    assert (answer.status, answer.fault) == (500, UNAUTHORIZED)


async def test_free_without_a_phone_is_a_validation_fault(client, tenant: Tenant) -> None:
    body = FREE.replace(b"<soap:phone>222</soap:phone>", b"")
    answer = await post_soap(client, AGENT_SOAP, body, tenant.dnis_user)
    assert (answer.status, answer.fault) == (500, VALIDATION)


async def test_lookup_answers_the_interaction_id(client, tenant: Tenant) -> None:
    await client.post("/interact/version/2/interactions", headers=tenant.headers("public"),
                      json={"uniqueId": "4df73e86-b7df-45da-b823-ed1f980d430b",
                            "userData": {"historySearchId": "0523331010"}})
    answer = await post_soap(client, AGENT_SOAP, LOOKUP, tenant.headers("public"))
    assert answer.status == 200
    assert answer.content_type.startswith("text/xml")
    unique_id = answer.text_of(AGENT_NS, "GetInteractionUniqueIdResponse", "uniqueId")
    assert unique_id == "4df73e86-b7df-45da-b823-ed1f980d430b"


async def test_lookup_not_found_is_an_answer_not_a_fault(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, LOOKUP, tenant.headers("public"))
    assert answer.status == 200
    text = answer.text_of(AGENT_NS, "GetInteractionUniqueIdResponse", "uniqueId")
    assert text == "UUID for history search 0523331010 was not found"


async def test_lookup_with_bad_credentials_is_the_0x7000000_fault(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, LOOKUP, tenant.web)  # a key of another kind
    assert (answer.status, answer.fault) == (500, UNAUTHORIZED)


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"<soap:searchValue>0523331010</soap:searchValue>", b""),
     (b">historySearchId<", b">shoeSize<")],
    ids=["missing searchValue", "unknown searchCreteria"],
)
async def test_lookup_with_invalid_input_is_a_validation_fault(client, tenant: Tenant, old, new) -> None:
    answer = await post_soap(client, AGENT_SOAP, LOOKUP.replace(old, new), tenant.headers("public"))
    assert (answer.status, answer.fault) == (500, VALIDATION)
