"""The vendor's published examples of UpdateIncomingCallsCountRequest and CampaignSMSRequest,
posted byte for byte to the agent endpoint."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ADMIN_TOKEN, AGENT_SOAP, SOAP_ENV, Tenant, post_soap

ENVELOPES = Path(__file__).parent / "envelopes"
COUNT = (ENVELOPES / "UpdateIncomingCallsCountRequest.xml").read_bytes()
SMS = (ENVELOPES / "CampaignSMSRequest.xml").read_bytes()
AGENT_NS = "http://com/jacada/interact/agent/soap"
RESOURCES = "/interact/version/2/account/12345678/resources"


async def campaign_with_token(client, db, tenant: Tenant, campaign_id: str) -> None:
    """The examples' campaign, and their token Aejhib7 for caller +972548120901."""
    await client.post(f"{RESOURCES}/campaigns", json={"campaignId": campaign_id, "smsText": "hello"},
                      headers=tenant.headers("public"))
    await db.execute(
        """INSERT INTO journey_tokens (scope_id, jp_token, target_kind, target_id, caller_id, expires_at)
           SELECT scope_id, 'Aejhib7', 'campaign', $1, '972548120901', now() + interval '1 hour'
           FROM scopes WHERE tenant_id = '12345678'""",
        campaign_id,
    )


async def test_update_incoming_calls_count_answers_success(client, db, tenant: Tenant) -> None:
    await campaign_with_token(client, db, tenant, "campaign1")
    answer = await post_soap(client, AGENT_SOAP, COUNT, tenant.headers("public"))
    assert answer.status == 200
    assert answer.text_of(AGENT_NS, "UpdateIncomingCallsCountResponse", "message") == "message: Success"
    assert await db.fetchval("SELECT calls_count FROM incoming_calls") == 1


async def test_update_incoming_calls_count_of_unknown_campaign_answers_in_unique_id(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, COUNT, tenant.headers("public"))
    text = answer.text_of(AGENT_NS, "UpdateIncomingCallsCountResponse", "uniqueId")
    assert text == "Campaign campaign1 was not found"


async def test_update_incoming_calls_count_with_an_unknown_token_is_a_validation_fault(
    client, db, tenant: Tenant
) -> None:
    await campaign_with_token(client, db, tenant, "campaign1")
    body = COUNT.replace(b"Aejhib7", b"Zzzzzz9")
    answer = await post_soap(client, AGENT_SOAP, body, tenant.headers("public"))
    assert (answer.status, answer.fault) == (500, ((SOAP_ENV, "Client"), "Validation error"))


async def test_update_incoming_calls_count_with_bad_credentials_is_the_0x7000000_fault(
    client, tenant: Tenant
) -> None:
    answer = await post_soap(client, AGENT_SOAP, COUNT, tenant.web)
    assert answer.fault == ("0x7000000", "Request is unauthorized, missing or wrong credentials")


async def test_campaign_sms_answers_the_message_sid(client, db, tenant: Tenant) -> None:
    await campaign_with_token(client, db, tenant, "camp 1")
    await client.patch(f"/admin/v1/tenants/{tenant.tenant_id}/settings",
                       json={"smsProvider": {"url": "http://127.0.0.1:9/", "account": "a", "secret": "s"}},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    answer = await post_soap(client, AGENT_SOAP, SMS, tenant.headers("public"))
    assert answer.status == 200
    message = answer.text_of(AGENT_NS, "CampaignSMSResponse", "message")
    assert re.fullmatch(r"message: Campaign camp 1 was sent to queue messageSid: SM[0-9a-f]{32}", message or "")
    assert await db.fetchval("SELECT additional_params FROM sms_outbox") == "Variable1=Value1"


async def test_campaign_sms_without_a_provider_answers_the_documented_text(client, db, tenant: Tenant) -> None:
    await campaign_with_token(client, db, tenant, "camp 1")
    answer = await post_soap(client, AGENT_SOAP, SMS, tenant.headers("public"))
    text = answer.text_of(AGENT_NS, "CampaignSMSResponse", "uniqueId")
    assert text == "Your Telephony provider is not defined, please contact support"


async def test_campaign_sms_of_unknown_campaign_answers_in_unique_id(client, tenant: Tenant) -> None:
    answer = await post_soap(client, AGENT_SOAP, SMS, tenant.headers("public"))
    assert answer.text_of(AGENT_NS, "CampaignSMSResponse", "uniqueId") == "Campaign camp 1 was not found"
