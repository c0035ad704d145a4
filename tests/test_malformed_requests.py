"""No request, however malformed, is answered with a server error while the database is up.

Hypothesis sends what tests/malformed.py generates (arbitrary bytes, wrong encodings, deep
nesting, absurd numbers, texts and dates, hostile headers) to every route of the app, found by
enumerating its routes (REST, the operator API, SOAP and operations), with valid credentials and
without, through the real app in process. REST answers a 4xx in the documented shape; SOAP
answers a fault of the caller's making (Client or 0x7000000), never a Server fault or JSON.

Runs are reproducible: a fixed number of examples, derandomized, no example database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from litestar.routes import ASGIRoute, HTTPRoute
from lxml import etree

from dnis_service.app import create_app
from dnis_service.config import Settings
from dnis_service.domain.errors import ProviderNotDefined
from dnis_service.web.state import Auth
from tests import malformed
from tests.conftest import ADMIN_TOKEN, DNIS, SOAP_ENV, Tenant, add_phones

EXAMPLES = 500
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
CREDENTIAL_HEADERS = ["Tenant-Id", "Application-Key", "Environment-Name", "User-Id", "User-Password", "Authorization"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    auth: Auth | None

    @property
    def soap(self) -> bool:
        return self.template.endswith("/soap")

    @property
    def admin(self) -> bool:
        return self.template.startswith("/admin/")


def endpoints_of(settings: Settings, database_url: str) -> list[Endpoint]:
    """Every method of every route of the app (SOAP mounts: POST, and GET for the WSDL)."""
    found: list[Endpoint] = []
    for route in create_app(settings, database_url).routes:
        if isinstance(route, ASGIRoute):
            found += [Endpoint("POST", route.path, None), Endpoint("GET", route.path, None)]
        elif isinstance(route, HTTPRoute):
            found += [Endpoint(method, route.path, handler.opt.get("auth"))
                      for handler in route.route_handlers for method in sorted(handler.http_methods)
                      if method != "OPTIONS"]
    return found


@pytest.fixture
async def endpoints(settings: Settings, database_url: str, db, client: httpx.AsyncClient,
                    tenant: Tenant) -> list[Endpoint]:
    """The app's endpoints, on a database where the names the fuzzer draws mostly exist: phones
    15550000001-3 (dnId 0001-3), interaction i1 holding one, campaign c1 with journey token
    Aejhib7, and an SMS provider (which is never called: the jobs are off)."""
    await add_phones(client, tenant, 3)
    assert (await client.post(f"{DNIS}/allocate/new", json={"id": "i1"}, headers=tenant.web)).status_code == 200
    resources = f"/interact/version/2/account/{tenant.tenant_id}/resources"
    public = tenant.headers("public")
    campaign = {"campaignId": "c1", "smsText": "hello"}
    assert (await client.post(f"{resources}/campaigns", json=campaign, headers=public)).status_code == 200
    token = await client.post(f"{resources}/jp/generateToken/campaign/c1", json={"callerId": "15551234567"},
                              headers=public)
    assert token.status_code == 200
    # The token the generated bodies carry (tests/malformed.py), so that calls with it are counted.
    await db.execute("UPDATE journey_tokens SET jp_token = 'Aejhib7' WHERE jp_token = $1", token.json()["jpToken"])
    provider = {"smsProvider": {"url": "http://127.0.0.1:9/sms", "account": "a", "secret": "s"}}
    assert (await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings", json=provider,
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 200
    found = endpoints_of(settings, database_url)
    assert len(found) >= 50 and sum(endpoint.soap for endpoint in found) == 4
    return found


_PLACEHOLDER = re.compile(r"\{\w+:\w+\}")


def credentials(endpoint: Endpoint, tenant: Tenant, draw: st.DrawFn) -> dict[str, bytes]:
    """The headers a well-behaved caller sends; or none; or those with one of them replaced."""
    mode = draw(st.sampled_from(["valid", "valid", "none", "hostile"]))
    if mode == "none":
        return {}
    if endpoint.admin:
        valid = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    elif endpoint.auth is not None:
        valid = tenant.headers(endpoint.auth.kind.value, user=endpoint.auth.user)
    else:  # SOAP operations take each kind of key; operations endpoints take none
        valid = tenant.headers(draw(st.sampled_from(["web", "dnis", "public"])), user=True)
    headers = {name: value.encode() for name, value in valid.items()}
    if mode == "hostile":
        headers[draw(st.sampled_from(CREDENTIAL_HEADERS))] = draw(malformed.header_values)
    return headers


@dataclass(frozen=True)
class Probe:
    method: str
    url: str
    headers: dict[str, bytes]
    body: bytes | None


@st.composite
def probes(draw: st.DrawFn, endpoints: list[Endpoint], tenant: Tenant) -> tuple[Endpoint, Probe]:
    endpoint = draw(st.sampled_from(endpoints))
    path = _PLACEHOLDER.sub(lambda _: draw(malformed.url_values), endpoint.template)
    if endpoint.soap:
        path += draw(st.sampled_from(["", "", "", "", "", "/", "/agent.wsdl", "/dnis.wsdl", "/x"]))
    query = draw(malformed.queries | st.just("wsdl") if endpoint.soap else malformed.queries)
    headers = credentials(endpoint, tenant, draw)
    if draw(st.booleans()):
        headers["Content-Type"] = draw(malformed.content_types)
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from([b"application/json", b"text/csv", b"*/*", b"\xff"]))
    body = draw(malformed.soap_bodies if endpoint.soap else malformed.bodies_for(endpoint.method, endpoint.template))
    return endpoint, Probe(endpoint.method, f"{path}?{query}" if query else path, headers, body)


def soap_fault_code(content: bytes) -> str | None:
    """The faultcode of a SOAP fault envelope (prefix dropped), None if it is not one."""
    try:
        xml = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    code = xml.findtext(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault/faultcode")
    return None if code is None else code.split(":")[-1]


def assert_documented_answer(endpoint: Endpoint, response: httpx.Response) -> None:
    status, content_type = response.status_code, response.headers.get("content-type", "")
    if endpoint.soap and status == 500:
        assert content_type.startswith("text/xml"), response.text[:300]
        assert soap_fault_code(response.content) in ("Client", "0x7000000"), response.text[:500]
        return
    # The vendor's answer to an SMS for a tenant without a provider is a 500 (README, journeys).
    assert status < 500 or response.text == ProviderNotDefined().message, response.text[:500]
    if status == 401 and not endpoint.admin:
        assert response.headers.get("unauthenticated-reason"), response.text
        assert response.json()["code"] == "0x7000000"
    if status == 400 and endpoint.admin:
        assert set(response.json()) == {"message"}, response.text
    elif status == 400 and "/interactions" in endpoint.template:
        assert response.json()["status"] == "error", response.text
    elif status == 400:
        assert content_type.startswith("text/plain"), response.text


async def _send(client: httpx.AsyncClient, probe: Probe) -> httpx.Response:
    note(repr(probe))
    return await client.request(probe.method, probe.url, headers=probe.headers, content=probe.body)


@FUZZ
@given(data=st.data())
async def test_no_request_to_any_route_is_a_server_error(client, tenant: Tenant, endpoints, data) -> None:
    endpoint, probe = data.draw(probes([e for e in endpoints if not e.soap], tenant))
    assert_documented_answer(endpoint, await _send(client, probe))


@FUZZ
@given(data=st.data())
async def test_every_soap_request_gets_a_soap_answer_or_a_client_fault(client, tenant: Tenant, endpoints,
                                                                       data) -> None:
    soap = [e for e in endpoints if e.soap]
    endpoint, probe = data.draw(probes(soap + [e for e in soap if e.method == "POST"] * 3, tenant))
    assert_documented_answer(endpoint, await _send(client, probe))
