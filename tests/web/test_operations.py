"""Health, readiness and the Prometheus endpoint."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import DNIS, DNIS_SOAP, Tenant, add_phones, drop_database, serve_in_process


async def test_live_answers_without_keys(client) -> None:
    response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "live"})


async def test_ready_when_the_database_answers_with_the_current_schema(client) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_not_ready_while_the_schema_is_behind(client, db) -> None:
    await db.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert "schema" in response.json()["reason"]


async def test_not_ready_while_the_database_is_unreachable(client, database_url, server_url) -> None:
    await drop_database(server_url, database_url)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert "database unreachable" in response.json()["reason"]


async def test_requests_fail_with_a_clear_503_while_the_database_is_unreachable(
    client, database_url, server_url, tenant: Tenant
) -> None:
    await drop_database(server_url, database_url)
    response = await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    assert response.status_code == 503
    assert response.text == "The database is unavailable; try again shortly"


async def test_metrics_use_route_templates_not_raw_numbers(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    text = (await client.get("/metrics")).text
    assert 'route="/interact/version/2/dnis/allocate/free/{phone}"' in text
    assert phone not in text


async def test_metrics_name_soap_requests_by_their_endpoint(client, tenant: Tenant) -> None:
    await client.get(f"{DNIS_SOAP}/dnis.wsdl")
    text = (await client.get("/metrics")).text
    assert f'dnis_http_requests_total{{method="GET",route="{DNIS_SOAP}",status="200"}} ' in text


async def test_metrics_count_allocations_and_releases(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1, group="sales")
    await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/new", json={"id": "u2"}, headers=tenant.web)
    await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    text = (await client.get("/metrics")).text
    assert f'dnis_allocations_total{{group="sales",kind="phone",tenant="{tenant.tenant_id}"}}' in text
    assert f'dnis_allocation_failures_total{{group="",reason="exhausted",tenant="{tenant.tenant_id}"}}' in text
    assert f'dnis_releases_total{{kind="phone",reason="freed",tenant="{tenant.tenant_id}"}}' in text
    assert "dnis_allocation_hold_seconds_bucket" in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
async def test_metrics_pass_promtool_check(settings, database_url, tenant: Tenant) -> None:
    from dataclasses import replace

    # With the jobs running, so the pool gauges and the sweep histogram have samples.
    async with serve_in_process(replace(settings, run_jobs=True, sweep_interval_seconds=0.1), database_url) as client:
        await add_phones(client, tenant, 2)
        await client.post(f"{DNIS}/allocate/new", json={"id": "u1"}, headers=tenant.web)
        await client.get(f"{DNIS}/allocate/get/15550000001", headers=tenant.dnis)
        text = (await client.get("/metrics")).text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
