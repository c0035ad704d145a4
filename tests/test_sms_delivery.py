"""SMS delivery from the outbox: a provider outage delays messages, never loses
them; retries back off; a restart mid-queue loses nothing. The provider is a real HTTP server
on 127.0.0.1 that can be told to refuse."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dnis_service.domain import sms
from tests.conftest import ADMIN_TOKEN, Tenant, serve_in_process
from tests.service_process import ServiceProcess


class FakeProvider:
    """A Twilio-style Messages endpoint answering 201, or `refusing` (503 by default)."""

    def __init__(self) -> None:
        self.refusing: int | None = 503
        self.received: list[dict[str, list[str]]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                status = provider.refusing or 201
                if status == 201:
                    provider.received.append(form | {"query": [urlsplit(self.path).query]})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/2010-04-01/Accounts/AC1/Messages.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def recipients(self) -> set[str]:
        return {form["To"][0] for form in self.received}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    yield fake
    fake.server.shutdown()


async def prepare(client: httpx.AsyncClient, tenant: Tenant, provider: FakeProvider) -> None:
    await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings",
                       json={"smsProvider": {"url": provider.url, "account": "AC1", "secret": "s3cret"}},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    await client.post(f"/interact/version/3/account/{tenant.tenant_id}/resources/campaigns",
                      json={"campaignId": "c1", "smsText": "Continue here"}, headers=tenant.headers("public"))


async def queue(client: httpx.AsyncClient, tenant: Tenant, count: int) -> None:
    for n in range(count):
        response = await client.post(f"/interact/version/3/account/{tenant.tenant_id}/resources/campaign/sms/c1",
                                     json={"callerId": f"+1 212 555 {n:04d}", "additionalParams": "lang=en"},
                                     headers=tenant.headers("public"))
        assert response.status_code == 200, response.text


async def test_an_outage_delays_messages_and_loses_none(client, db, tenant: Tenant, provider) -> None:
    await prepare(client, tenant, provider)
    await queue(client, tenant, 10)
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            assert await sms.deliver_due(db, http, retry_base_seconds=0.01) == 0
            await asyncio.sleep(0.05)
        provider.refusing = None
        deadline = time.monotonic() + 10
        while await sms.pending(db):
            assert time.monotonic() < deadline
            await sms.deliver_due(db, http, retry_base_seconds=0.01)
            await asyncio.sleep(0.02)
    assert provider.recipients() == {f"+1212555{n:04d}" for n in range(10)}
    assert {form["Body"][0] for form in provider.received} == {"Continue here"}
    assert {form["query"][0] for form in provider.received} == {"lang=en"}


async def test_retries_back_off(client, db, tenant: Tenant, provider) -> None:
    await prepare(client, tenant, provider)
    await queue(client, tenant, 1)
    delays = []
    async with httpx.AsyncClient() as http:
        for _ in range(4):
            await db.execute("UPDATE sms_outbox SET next_attempt_at = now()")
            await sms.deliver_due(db, http, retry_base_seconds=1.0)
            delays.append(await db.fetchval(
                "SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM sms_outbox"))
    assert [round(d) for d in delays] == [1, 2, 4, 8]
    assert await db.fetchval("SELECT last_error FROM sms_outbox") == "HTTP 503: {}"


async def test_a_message_the_provider_refuses_for_good_is_not_retried(client, db, tenant: Tenant, provider) -> None:
    await prepare(client, tenant, provider)
    await queue(client, tenant, 1)
    provider.refusing = 400
    async with httpx.AsyncClient() as http:
        await sms.deliver_due(db, http, retry_base_seconds=0.01)
    assert await db.fetchval("SELECT failed_at IS NOT NULL FROM sms_outbox") is True
    assert await sms.pending(db) == 0


async def test_outbox_pending_is_on_metrics(settings, database_url, db, tenant: Tenant, provider) -> None:
    jobs_on = replace(settings, run_jobs=True, sweep_interval_seconds=60)
    async with serve_in_process(jobs_on, database_url) as client:
        await prepare(client, tenant, provider)
        await queue(client, tenant, 3)
        from dnis_service.jobs import refresh_gauges

        await refresh_gauges(db)
        text = (await client.get("/metrics")).text
    assert "dnis_sms_outbox_pending 3.0" in text


async def test_a_restart_mid_queue_loses_nothing(db, database_url, tenant: Tenant, provider, tmp_path) -> None:
    env = {"DNIS_SWEEP_INTERVAL_SECONDS": "0.1", "DNIS_SMS_RETRY_BASE_SECONDS": "0.1", "DNIS_ADMIN_TOKEN": ADMIN_TOKEN}
    with ServiceProcess(database_url, tmp_path, **env) as first:
        async with httpx.AsyncClient(base_url=first.url) as client:
            await prepare(client, tenant, provider)
            await queue(client, tenant, 20)
        await asyncio.sleep(0.5)  # a few refused attempts
        first.terminate()
    assert await sms.pending(db) == 20
    provider.refusing = None
    # A graceful stop leaves no message leased (a cancelled delivery did, for a minute).
    assert await db.fetchval("SELECT count(*) FROM sms_outbox WHERE attempts > 0 AND next_attempt_at > "
                             "now() + make_interval(secs => $1)", sms.LEASE_SECONDS / 2) == 0
    # Not waiting out the backoff the refusals built up (on a loaded machine, tens of seconds):
    # what this test is about is that nothing was lost.
    await db.execute("UPDATE sms_outbox SET next_attempt_at = now()")
    with ServiceProcess(database_url, tmp_path, **env):
        deadline = time.monotonic() + 30
        while await sms.pending(db):
            assert time.monotonic() < deadline, "the restarted service did not deliver the queue"
            await asyncio.sleep(0.1)
    assert provider.recipients() == {f"+1212555{n:04d}" for n in range(20)}


async def test_the_campaign_sender_reaches_the_provider_as_one_international_number(
        client, db, tenant: Tenant, provider) -> None:
    await prepare(client, tenant, provider)
    await client.put(f"/interact/version/3/account/{tenant.tenant_id}/resources/campaigns/c1",
                     json={"smsText": "Continue here", "from": "+1 (555) 000-1234"}, headers=tenant.headers("public"))
    await queue(client, tenant, 1)
    provider.refusing = None
    async with httpx.AsyncClient() as http:
        assert await sms.deliver_due(db, http, retry_base_seconds=0.01) == 1
    assert provider.received[0]["From"] == ["+15550001234"]


async def test_an_invalid_sender_in_the_request_is_named(client, tenant: Tenant, provider) -> None:
    await prepare(client, tenant, provider)
    response = await client.post(f"/interact/version/3/account/{tenant.tenant_id}/resources/campaign/sms/c1",
                                 json={"callerId": "+12125550000", "from": "not a number"},
                                 headers=tenant.headers("public"))
    assert (response.status_code, response.text) == (400, "missing or invalid parameter from")
