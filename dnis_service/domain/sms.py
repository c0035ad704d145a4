"""Campaign SMS: queued in a database outbox, handed to the tenant's provider by a job, with
retries; a provider outage delays messages, never loses them (delivery is at least once)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import httpx

from dnis_service import metrics
from dnis_service.db.queries import query
from dnis_service.domain import journeys
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import ProviderNotDefined

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 300.0


def new_message_sid() -> str:
    return "SM" + secrets.token_hex(16)


async def queue_campaign_sms(
    db: asyncpg.Pool, caller: Caller, campaign_id: str, caller_id: object, jp_token: object = None,
    sender: object = None, additional_params: object = None,
) -> str:
    """Queue the campaign's SMS to callerId (and mark smsSent on the token's record); the sid."""
    number = journeys.caller_number(caller_id)
    campaign = await journeys.get_campaign(db, caller, campaign_id)
    if not await db.fetchval(query("tenant_sms_provider"), caller.scope_id):
        raise ProviderNotDefined()
    token = None if jp_token is None else journeys.token_value(jp_token)
    aim = journeys.Target("campaign", campaign_id)
    if token is not None:
        await journeys.require_live_token(db, caller, aim, token)
    from_number = journeys.caller_number(sender, "from") if sender else campaign.sms_from
    params = None if additional_params is None else str(additional_params)
    sid = new_message_sid()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(query("queue_sms"), sid, caller.scope_id, campaign_id, number, from_number,
                           campaign.sms_text, params)
        if token is not None:
            await journeys.record_sms_sent(conn, caller, aim, token, number)
    log.info("sms queued sid=%s tenant=%s campaign=%s", sid, caller.tenant_id, campaign_id)
    return sid


@dataclass(frozen=True)
class Delivery:
    """How one attempt went: delivered, retry later, or refused for good (a 4xx)."""

    outcome: str
    error: str | None = None


async def _send(http: httpx.AsyncClient, provider: dict[str, Any], message: asyncpg.Record) -> Delivery:
    data = {"To": "+" + message["to_number"], "Body": message["body"]}
    if message["from_number"]:
        data["From"] = "+" + message["from_number"]
    params = dict(parse_qsl(message["additional_params"] or ""))
    try:
        response = await http.post(provider["url"], data=data, params=params,
                                   auth=(provider["account"], provider["secret"]))
    except httpx.HTTPError as error:
        return Delivery("retry", f"{type(error).__name__}: {error}")
    if response.is_success:
        return Delivery("delivered")
    problem = f"HTTP {response.status_code}: {response.text[:200]}"
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    return Delivery("refused" if permanent else "retry", problem)


async def deliver_due(db: asyncpg.Pool, http: httpx.AsyncClient, retry_base_seconds: float, batch: int = 50) -> int:
    """Hand the due messages to their providers; returns how many were delivered."""
    delivered = 0
    for message in await db.fetch(query("claim_due_sms"), batch, LEASE_SECONDS):
        provider = message["sms_provider"]
        attempt = (await _send(http, provider, message)) if provider else Delivery("retry", "no provider")
        if attempt.outcome == "delivered":
            await db.execute(query("sms_delivered"), message["message_sid"])
            delivered += 1
        elif attempt.outcome == "refused":
            await db.execute(query("sms_refused"), message["message_sid"], attempt.error)
            log.warning("sms refused sid=%s error=%s", message["message_sid"], attempt.error)
        else:
            backoff = min(MAX_BACKOFF_SECONDS, retry_base_seconds * 2 ** (message["attempts"] - 1))
            await db.execute(query("sms_retry_later"), message["message_sid"], backoff, attempt.error)
        metrics.sms_attempt(attempt.outcome)
    return delivered


async def pending(db: asyncpg.Pool) -> int:
    count: int = await db.fetchval(query("sms_pending_count"))
    return count
