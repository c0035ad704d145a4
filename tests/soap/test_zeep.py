"""A stock SOAP client (zeep), given only the WSDL URL of a running service, calls every
operation: agent.wsdl alone serves them all, the DNIS namespace's ones included, as the vendor's
pages send an integrator there for FreeDnisAllocation; dnis.wsdl serves the DNIS ones."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests
import zeep
from zeep.transports import Transport

from tests.conftest import AGENT_SOAP, DNIS, DNIS_SOAP, Tenant, service_on_own_database
from tests.service_process import ServiceProcess

PUBLIC_URL = "http://dnis.example.invalid:8443"
AGENT_WSDL = f"{AGENT_SOAP}/agent.wsdl"
DNIS_WSDL = f"{DNIS_SOAP}/dnis.wsdl"
# Both WSDLs declare the DNIS namespace's operations.
WITH_DNIS_OPERATIONS = pytest.mark.parametrize("wsdl", [AGENT_WSDL, DNIS_WSDL], ids=["agent.wsdl", "dnis.wsdl"])


@pytest.fixture(scope="module")
def service(server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[ServiceProcess, Tenant]]:
    with service_on_own_database(server_url, tmp_path_factory.mktemp("zeep")) as running:
        yield running


def soap_client(service: tuple[ServiceProcess, Tenant], wsdl: str, headers: dict[str, str]) -> zeep.Client:
    process, _ = service
    session = requests.Session()
    session.headers.update(headers)
    return zeep.Client(f"{process.url}{wsdl}", transport=Transport(session=session))


@WITH_DNIS_OPERATIONS
def test_allocate_get_and_free_through_zeep(service, wsdl: str) -> None:
    _, tenant = service
    agent = soap_client(service, AGENT_WSDL, tenant.web)
    phone = agent.service.AllocateDnis(uniqueId=f"zeep-{wsdl}", group=None)
    assert phone.startswith("1555")
    holder = soap_client(service, f"{AGENT_SOAP}?wsdl", tenant.dnis)
    assert holder.service.GetDnisAllocation(phone=phone) == f"zeep-{wsdl}"
    dnis = soap_client(service, wsdl, tenant.dnis_user)
    assert dnis.service.FreeDnisAllocation(phone=phone) == "Success"
    assert holder.service.GetDnisAllocation(phone=phone) is None  # empty: no holder


@WITH_DNIS_OPERATIONS
def test_free_of_a_phone_not_allocated_through_zeep_answers_not_found(service, wsdl: str) -> None:
    _, tenant = service
    phone = soap_client(service, AGENT_WSDL, tenant.web).service.AllocateDnis(uniqueId=f"zeep-again-{wsdl}")
    dnis = soap_client(service, wsdl, tenant.dnis_user)
    assert dnis.service.FreeDnisAllocation(phone=phone) == "Success"
    assert dnis.service.FreeDnisAllocation(phone=phone) == f"Phone number {phone} was not found"


@WITH_DNIS_OPERATIONS
def test_free_of_an_unknown_phone_through_zeep_answers_not_found(service, wsdl: str) -> None:
    _, tenant = service
    dnis = soap_client(service, wsdl, tenant.dnis_user)
    assert dnis.service.FreeDnisAllocation(phone="999") == "Phone number 999 was not found"


@WITH_DNIS_OPERATIONS
def test_create_phone_through_zeep(service, wsdl: str) -> None:
    process, tenant = service
    number = {AGENT_WSDL: "19995550001", DNIS_WSDL: "19995550002"}[wsdl]
    dnis = soap_client(service, wsdl, tenant.dnis_user)
    phone_id = dnis.service.CreatePhone(phoneNumber=f"+{number}", dnId=number[-4:], groupName="zeep", enabled=True)
    assert phone_id.isdigit()
    found = httpx.get(f"{process.url}{DNIS}/{number}", headers=tenant.dnis_user)
    assert found.json()["groupName"] == "zeep"


@WITH_DNIS_OPERATIONS
def test_credentials_fault_reaches_zeep_as_a_fault(service, wsdl: str) -> None:
    _, tenant = service
    dnis = soap_client(service, wsdl, tenant.dnis)  # no user credentials
    with pytest.raises(zeep.exceptions.Fault) as fault:
        dnis.service.FreeDnisAllocation(phone="155501")
    assert fault.value.code == "0x7000000"


def test_update_incoming_calls_count_through_zeep(service) -> None:
    _, tenant = service
    agent = soap_client(service, AGENT_WSDL, tenant.headers("public"))
    answer = agent.service.UpdateIncomingCallsCount(jpToken="Aejhib7", campaignId="zeep", callerId="+15550100")
    assert (answer.message, answer.uniqueId) == (None, "Campaign zeep was not found")


def test_campaign_sms_through_zeep(service) -> None:
    _, tenant = service
    agent = soap_client(service, AGENT_WSDL, tenant.headers("public"))
    answer = agent.service.CampaignSMS(campaignId="zeep", callerId="+15550100", jpToken="Aejhib7")
    assert (answer.message, answer.uniqueId) == (None, "Campaign zeep was not found")


@pytest.mark.parametrize("criteria", ["dtmf", "callReturn", "clickToCall", "callerId", "historySearchId", "DTMF"])
def test_unique_id_lookup_for_each_search_criterion(service, criteria: str) -> None:
    process, tenant = service
    uid = f"zeep-lookup-{criteria}"
    web = {"Tenant-Id": tenant.tenant_id, "Application-Key": tenant.keys["web"], "Accept": "application/json"}
    body = {"id": uid, "historySearchId": f"h-{criteria}", "callReturnNumber": f"+44 {len(criteria)} 7000 {len(uid)}"}
    allocated = httpx.post(f"{process.url}{DNIS}/allocate/new", json=body, headers=web).json()
    code = httpx.post(f"{process.url}{DNIS}/allocate/dtmf", json={"id": uid}, headers=web).text
    value = {
        "dtmf": code, "DTMF": code, "clickToCall": allocated["phoneNumber"], "callerId": allocated["dnId"],
        "callReturn": body["callReturnNumber"], "historySearchId": body["historySearchId"],
    }[criteria]
    agent = soap_client(service, AGENT_WSDL, tenant.headers("public"))
    assert agent.service.GetInteractionUniqueId(searchCreteria=criteria, searchValue=value) == uid


def test_wsdl_address_is_the_configured_public_url(server_url, template_url, tmp_path_factory) -> None:
    with service_on_own_database(server_url, tmp_path_factory.mktemp("wsdl"), DNIS_PUBLIC_URL=PUBLIC_URL) as (p, _):
        wsdl = httpx.get(f"{p.url}{AGENT_SOAP}?wsdl", headers={"Host": "attacker.example"}).text
    assert f'location="{PUBLIC_URL}{AGENT_SOAP}"' in wsdl
    assert "attacker.example" not in wsdl


def test_soap_calls_are_counted_per_operation_and_outcome(service) -> None:
    process, tenant = service
    agent = soap_client(service, AGENT_WSDL, tenant.headers("public"))
    agent.service.GetInteractionUniqueId(searchCreteria="dtmf", searchValue="000000")
    metrics = httpx.get(f"{process.url}/metrics").text
    sample = 'dnis_soap_requests_total{endpoint="agent",operation="GetInteractionUniqueIdRequest",outcome="ok"}'
    assert sample in metrics
