"""Campaigns, journey tokens, incoming-call counts, SMS, report."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.conftest import ADMIN_TOKEN, Tenant

ACCEPT_CSV = {"Accept": "text/csv"}


def base(tenant: Tenant, version: int = 2) -> str:
    return f"/interact/version/{version}/account/{tenant.tenant_id}/resources"


async def make_campaign(client, tenant: Tenant, campaign_id: str = "campaign1", **fields) -> None:
    body = {"campaignId": campaign_id, "smsText": "Continue online: https://x.example/j", **fields}
    response = await client.post(f"{base(tenant)}/campaigns", json=body, headers=tenant.headers("public"))
    assert response.status_code == 200, response.text


async def token_for(client, tenant: Tenant, kind: str = "campaign", target: str = "campaign1",
                    caller: str = "+972 54 4696388") -> str:
    response = await client.post(f"{base(tenant)}/jp/generateToken/{kind}/{target}", json={"callerId": caller},
                                 headers=tenant.headers("public"))
    assert response.status_code == 200, response.text
    return response.json()["jpToken"]


async def count_call(client, tenant: Tenant, token: str, kind: str = "campaign", target: str = "campaign1",
                     caller: str = "+972 54 4696388", version: int = 2):
    return await client.post(f"{base(tenant, version)}/jp/updateIncomingCallsCount/{kind}/{target}",
                             json={"callerId": caller, "jpToken": token}, headers=tenant.headers("public"))


async def set_provider(client, tenant: Tenant, url: str = "http://127.0.0.1:9/sms") -> None:
    response = await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings",
                                  json={"smsProvider": {"url": url, "account": "AC1", "secret": "s3cret"}},
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200


async def test_token_is_seven_alphanumerics_with_an_expiry(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    assert re.fullmatch(r"[A-Za-z0-9]{7}", token)


async def test_token_for_an_unknown_campaign_is_404(client, tenant: Tenant) -> None:
    response = await client.post(f"{base(tenant)}/jp/generateToken/campaign/nope", json={"callerId": "+1 212 555"},
                                 headers=tenant.headers("public"))
    assert (response.status_code, response.text) == (404, "Campaign nope was not found")


async def test_counting_a_call_answers_200_empty(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    response = await count_call(client, tenant, await token_for(client, tenant))
    assert (response.status_code, response.text) == (200, "")


@pytest.mark.parametrize("version", [2, 3])
async def test_each_call_adds_one_to_one_record(client, db, tenant: Tenant, version: int) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    for _ in range(3):
        assert (await count_call(client, tenant, token, version=version)).status_code == 200
    rows = await db.fetch("SELECT calls_count, caller_id FROM incoming_calls")
    assert [(r["calls_count"], r["caller_id"]) for r in rows] == [(3, "972544696388")]


async def test_200_concurrent_calls_count_exactly_200(client, db, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    responses = await asyncio.gather(*(count_call(client, tenant, token) for _ in range(200)))
    assert {r.status_code for r in responses} == {200}
    assert await db.fetchval("SELECT count(*) FROM incoming_calls") == 1
    assert await db.fetchval("SELECT calls_count FROM incoming_calls") == 200


@pytest.mark.parametrize(("body", "parameter"), [
    ({"jpToken": "Aejhib7"}, "callerId"),
    ({"callerId": "not a number", "jpToken": "Aejhib7"}, "callerId"),
    ({"callerId": "+972 54 4696388"}, "jpToken"),
    ({"callerId": "+972 54 4696388", "jpToken": "short"}, "jpToken"),
    ({"callerId": 972544696388, "jpToken": "Aejhib7"}, "callerId"),
])
async def test_bad_parameters_are_400_naming_the_parameter(client, tenant: Tenant, body, parameter) -> None:
    await make_campaign(client, tenant)
    response = await client.post(f"{base(tenant)}/jp/updateIncomingCallsCount/campaign/campaign1", json=body,
                                 headers=tenant.headers("public"))
    assert (response.status_code, response.text) == (400, f"missing or invalid parameter {parameter}")


async def test_a_token_of_another_target_is_an_invalid_parameter(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant, "campaign1")
    await make_campaign(client, tenant, "campaign2")
    token = await token_for(client, tenant, target="campaign2")
    response = await count_call(client, tenant, token, target="campaign1")
    assert (response.status_code, response.text) == (400, "missing or invalid parameter jpToken")


async def test_expired_token_is_403(client, db, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    await db.execute("UPDATE journey_tokens SET expires_at = now() - interval '1 second'")
    response = await count_call(client, tenant, token)
    assert (response.status_code, response.text) == (403, "Token expired")


async def test_unknown_campaign_is_404(client, tenant: Tenant) -> None:
    response = await count_call(client, tenant, "Aejhib7", target="nope")
    assert (response.status_code, response.text) == (404, "Campaign nope was not found")


async def test_unknown_interaction_is_404(client, tenant: Tenant) -> None:
    response = await count_call(client, tenant, "Aejhib7", kind="interaction", target="nope")
    assert (response.status_code, response.text) == (404, "Interaction nope was not found")


async def test_interaction_targets_count_too(client, db, tenant: Tenant) -> None:
    await client.post("/interact/version/2/interactions", json={"uniqueId": "interaction1"},
                      headers=tenant.headers("public"))
    token = await token_for(client, tenant, kind="interaction", target="interaction1")
    assert (await count_call(client, tenant, token, kind="interaction", target="interaction1")).status_code == 200
    assert await db.fetchval("SELECT target_kind FROM incoming_calls") == "interaction"


async def test_account_id_must_match_the_tenant(client, tenant: Tenant, other_tenant: Tenant) -> None:
    response = await client.get(f"{base(other_tenant)}/campaigns", headers=tenant.headers("public"))
    assert response.status_code == 401


async def test_campaigns_can_be_listed_changed_and_deleted(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant, "c1", tokenTtlSeconds=60)
    headers = tenant.headers("public")
    changed = await client.put(f"{base(tenant)}/campaigns/c1", json={"smsText": "new text"}, headers=headers)
    assert changed.json()["smsText"] == "new text"
    listed = (await client.get(f"{base(tenant)}/campaigns", headers=headers)).json()["campaigns"]
    assert [c["campaignId"] for c in listed] == ["c1"]
    assert (await client.delete(f"{base(tenant)}/campaigns/c1", headers=headers)).status_code == 200
    assert (await client.delete(f"{base(tenant)}/campaigns/c1", headers=headers)).status_code == 404


async def test_sms_is_queued_with_a_message_sid_and_marks_sms_sent(client, db, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    await set_provider(client, tenant)
    token = await token_for(client, tenant)
    response = await client.post(f"{base(tenant, 3)}/campaign/sms/campaign1",
                                 json={"callerId": "+972 54 4696388", "jpToken": token,
                                       "additionalParams": "var1=value1&var2=value"},
                                 headers=tenant.headers("public"))
    assert response.status_code == 200
    assert re.fullmatch(r"Placed campaign \{campaign1\} in SMS queue messageSid: SM[0-9a-f]{32}", response.text)
    sid = response.text.rsplit(" ", 1)[1]
    assert await db.fetchval("SELECT to_number FROM sms_outbox WHERE message_sid = $1", sid) == "972544696388"
    assert await db.fetchval("SELECT sms_sent FROM incoming_calls") is True


async def test_sms_without_a_provider_is_500_with_the_documented_text(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    response = await client.post(f"{base(tenant, 3)}/campaign/sms/campaign1", json={"callerId": "+1 212 555 0100"},
                                 headers=tenant.headers("public"))
    assert (response.status_code, response.text) == (
        500, "Your Telephony provider is not defined, please contact support",
    )


async def test_sms_for_an_unknown_campaign_is_404(client, tenant: Tenant) -> None:
    response = await client.post(f"{base(tenant, 3)}/campaign/sms/nope", json={"callerId": "+1 212 555 0100"},
                                 headers=tenant.headers("public"))
    assert (response.status_code, response.text) == (404, "Campaign nope was not found")


async def test_notify_marks_sms_sent_without_queueing(client, db, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    response = await client.post(f"{base(tenant, 3)}/campaign/sms/notify/campaign1",
                                 json={"callerId": "+972 54 4696388", "jpToken": token},
                                 headers=tenant.headers("public"))
    assert response.status_code == 200
    assert await db.fetchval("SELECT sms_sent FROM incoming_calls") is True
    assert await db.fetchval("SELECT count(*) FROM sms_outbox") == 0


async def _report_fixture(client, tenant: Tenant) -> list[str]:
    await make_campaign(client, tenant)
    tokens = [await token_for(client, tenant, caller=f"+1 212 555 010{n}") for n in range(3)]
    for n, token in enumerate(tokens):
        for _ in range(n + 1):
            await count_call(client, tenant, token, caller=f"+1 212 555 010{n}")
    await client.post(f"{base(tenant, 3)}/campaign/sms/notify/campaign1",
                      json={"callerId": "+1 212 555 0100", "jpToken": tokens[0]}, headers=tenant.headers("public"))
    return tokens


async def test_report_gives_rows_and_totals_as_json(client, tenant: Tenant) -> None:
    tokens = await _report_fixture(client, tenant)
    body = (await client.get(f"{base(tenant)}/jp/report/campaign/campaign1", headers=tenant.headers("public"))).json()
    assert body["totals"] == {"records": 3, "incomingCalls": 6, "smsSent": 1}
    assert {(r["jpToken"], r["incomingCallsCount"]) for r in body["rows"]} == {
        (tokens[0], 1), (tokens[1], 2), (tokens[2], 3)}


async def test_report_as_csv(client, tenant: Tenant) -> None:
    await _report_fixture(client, tenant)
    response = await client.get(f"{base(tenant)}/jp/report/campaign/campaign1",
                                headers=tenant.headers("public") | ACCEPT_CSV)
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0] == "jpToken,callerId,incomingCallsCount,smsSent,firstCallAt,lastCallAt"
    assert lines[-1] == "TOTAL,3,6,1,,"
    assert len(lines) == 5


async def test_report_window_excludes_records_outside_it(client, tenant: Tenant) -> None:
    await _report_fixture(client, tenant)
    response = await client.get(f"{base(tenant)}/jp/report/campaign/campaign1",
                                params={"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"},
                                headers=tenant.headers("public"))
    assert response.json()["totals"] == {"records": 0, "incomingCalls": 0, "smsSent": 0}


async def test_a_campaign_created_again_after_a_delete_starts_afresh(client, tenant: Tenant) -> None:
    await make_campaign(client, tenant)
    token = await token_for(client, tenant)
    assert (await count_call(client, tenant, token)).status_code == 200
    assert (await client.delete(f"{base(tenant)}/campaigns/campaign1", headers=tenant.headers("public"))).is_success
    await make_campaign(client, tenant)
    report = (await client.get(f"{base(tenant)}/jp/report/campaign/campaign1", headers=tenant.headers("public")))
    assert report.json()["totals"] == {"records": 0, "incomingCalls": 0, "smsSent": 0}
    answer = await count_call(client, tenant, token)
    assert (answer.status_code, answer.text) == (400, "missing or invalid parameter jpToken")


@pytest.mark.parametrize("parameter", ["from", "to"])
async def test_a_report_window_that_is_no_time_is_400_naming_its_parameter(client, tenant: Tenant, parameter) -> None:
    await make_campaign(client, tenant)
    response = await client.get(f"{base(tenant)}/jp/report/campaign/campaign1", params={parameter: "yesterday"},
                                headers=tenant.headers("public"))
    assert (response.status_code, response.text.split(":")[0]) == (400, parameter)
