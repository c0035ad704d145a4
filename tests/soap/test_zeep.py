"""A stock SOAP client (zeep), given only the WSDL URLs of a running service, calls every
operation (CONTRACT §8)."""

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


def test_allocate_get_and_free_through_zeep(service) -> None:
    _, tenant = service
    agent = soap_client(service, f"{AGENT_SOAP}/agent.wsdl", tenant.web)
    phone = agent.service.AllocateDnis(uniqueId="zeep-1", group=None)
    assert phone.startswith("1555")
    holder = soap_client(service, f"{AGENT_SOAP}?wsdl", tenant.dnis)
    assert holder.service.GetDnisAllocation(phone=phone) == "zeep-1"
    dnis = soap_client(service, f"{DNIS_SOAP}/dnis.wsdl", tenant.dnis_user)
    assert dnis.service.FreeDnisAllocation(phone=phone) == "Success"
    assert holder.service.GetDnisAllocation(phone=phone) is None  # empty: no holder


def test_create_phone_through_zeep(service) -> None:
    process, tenant = service
    dnis = soap_client(service, f"{DNIS_SOAP}/dnis.wsdl", tenant.dnis_user)
    phone_id = dnis.service.CreatePhone(phoneNumber="+1 999 555 0000", dnId="0000", groupName="zeep", enabled=True)
    assert phone_id.isdigit()
    found = httpx.get(f"{process.url}{DNIS}/19995550000", headers=tenant.dnis_user)
    assert found.json()["groupName"] == "zeep"


def test_credentials_fault_reaches_zeep_as_a_fault(service) -> None:
    _, tenant = service
    dnis = soap_client(service, f"{DNIS_SOAP}/dnis.wsdl", tenant.dnis)  # no user credentials
    with pytest.raises(zeep.exceptions.Fault) as fault:
        dnis.service.FreeDnisAllocation(phone="155501")
    assert fault.value.code == "0x7000000"


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
    agent = soap_client(service, f"{AGENT_SOAP}/agent.wsdl", tenant.headers("public"))
    assert agent.service.GetInteractionUniqueId(searchCreteria=criteria, searchValue=value) == uid


def test_wsdl_address_is_the_configured_public_url(server_url, template_url, tmp_path_factory) -> None:
    with service_on_own_database(server_url, tmp_path_factory.mktemp("wsdl"), DNIS_PUBLIC_URL=PUBLIC_URL) as (p, _):
        wsdl = httpx.get(f"{p.url}{AGENT_SOAP}?wsdl", headers={"Host": "attacker.example"}).text
    assert f'location="{PUBLIC_URL}{AGENT_SOAP}"' in wsdl
    assert "attacker.example" not in wsdl


def test_soap_calls_are_counted_per_operation_and_outcome(service) -> None:
    process, tenant = service
    agent = soap_client(service, f"{AGENT_SOAP}/agent.wsdl", tenant.headers("public"))
    agent.service.GetInteractionUniqueId(searchCreteria="dtmf", searchValue="000000")
    metrics = httpx.get(f"{process.url}/metrics").text
    sample = 'dnis_soap_requests_total{endpoint="agent",operation="GetInteractionUniqueIdRequest",outcome="ok"}'
    assert sample in metrics
