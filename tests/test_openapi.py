"""The OpenAPI document at /schema describes every REST endpoint, and the service keeps to it:
schemathesis sends a few hundred generated requests to a real service process and finds no
500 and no answer that breaks the documented schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import Tenant, service_on_own_database
from tests.service_process import ServiceProcess

ADMIN_TOKEN = "fuzz-admin-token"
PER_OPERATION = 12  # about 30 operations: a few hundred requests in all


@pytest.fixture(scope="module")
def service(server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[ServiceProcess, Tenant]]:
    with service_on_own_database(server_url, tmp_path_factory.mktemp("openapi"), DNIS_ADMIN_TOKEN=ADMIN_TOKEN) as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(service: tuple[ServiceProcess, Tenant]) -> schemathesis.BaseSchema:
    process, _ = service
    return schemathesis.openapi.from_url(f"{process.url}/schema/openapi.json")


def credentials(path: str, tenant: Tenant) -> dict[str, str]:
    """The headers a well-behaved caller of this path sends."""
    if path.startswith("/admin/"):
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if "/interactions" in path or "/uniqueId/" in path:
        return tenant.headers("public")
    if any(part in path for part in ("/allocate/new", "/allocate/dtmf", "/allocate/extend/")):
        return tenant.headers("web")
    return tenant.headers("dnis", user=True)


def test_no_server_error_and_no_answer_outside_the_schema(api_schema, service) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which pytest 9 breaks.
    process, tenant = service
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    statuses: list[int] = []

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def check(case) -> None:
            response = case.call_and_validate(
                base_url=process.url,
                headers=credentials(case.path, tenant),
                checks=[not_a_server_error, response_schema_conformance],
            )
            statuses.append(response.status_code)

        check()
    assert len(statuses) >= 200, "a few hundred requests"
    assert sum(1 for status in statuses if status < 300) >= 25, "some requests should get past validation"


def test_every_rest_endpoint_is_documented_with_its_credentials(api_schema) -> None:
    raw = api_schema.raw_schema
    paths = raw["paths"]
    for path in ("/interact/version/2/dnis/allocate/new", "/interact/version/2/dnis/allocate/get/{phone}",
                 "/interact/version/2/interactions/{unique_id}", "/admin/v1/tenants",
                 "/interact/agent/version/2/account/{account_id}/uniqueId/{attribute}/{value}"):
        assert path in paths
    assert set(raw["components"]["securitySchemes"]) >= {"tenantId", "applicationKey", "userId", "userPassword"}
    free = paths["/interact/version/2/dnis/allocate/free/{phone}"]["post"]
    assert free["security"] == [{"tenantId": [], "applicationKey": [], "userId": [], "userPassword": []}]
    assert {"200", "401", "404"} <= set(free["responses"])


