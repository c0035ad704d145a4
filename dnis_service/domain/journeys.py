"""Journey tokens, incoming-call counts and the deflected-call report."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from dnis_service.db.pool import Connection
from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.auth import Caller
from dnis_service.domain.errors import (
    CampaignExists,
    CampaignNotFound,
    InteractionNotFound,
    InvalidInput,
    InvalidParameter,
    TokenExpired,
)

TargetKind = Literal["campaign", "interaction"]
TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN = re.compile(r"[A-Za-z0-9]{7}")
# How long a journey token lives: an interaction's always, a campaign's unless it sets its own.
DEFAULT_TOKEN_TTL_SECONDS = 86_400
REPORT_MAX_ROWS = 100_000


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    sms_text: str
    sms_from: str | None
    token_ttl_seconds: int


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    target_id: str


@dataclass(frozen=True)
class Token:
    jp_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ReportRow:
    jp_token: str
    caller_id: str
    incoming_calls: int
    sms_sent: bool
    first_call_at: datetime | None
    last_call_at: datetime | None


def target(kind: str, target_id: str) -> Target:
    if kind not in ("campaign", "interaction"):
        raise InvalidInput("target: must be campaign or interaction")
    return Target(kind, target_id)  # type: ignore[arg-type]


def caller_number(raw: object, parameter: str = "callerId") -> str:
    """A phone number sent as `parameter`, in canonical form (digits only)."""
    number = inputs.canonical_phone(raw) if isinstance(raw, str) else None
    if number is None:
        raise InvalidParameter(parameter)
    return number


def token_value(raw: object) -> str:
    if not isinstance(raw, str) or not _TOKEN.fullmatch(raw):
        raise InvalidParameter("jpToken")
    return raw


def _campaign_fields(fields: Mapping[str, object]) -> tuple[str, str | None, int]:
    text, sender = fields.get("smsText"), fields.get("from")
    if not isinstance(text, str) or not 1 <= len(text) <= 1600:
        raise InvalidInput("smsText: must be 1 to 1600 characters")
    if sender is not None:
        sender = inputs.phone_number(sender, "from")
    ttl = inputs.integer(fields.get("tokenTtlSeconds", DEFAULT_TOKEN_TTL_SECONDS), "tokenTtlSeconds")
    return text, sender, ttl


def _campaign(row: asyncpg.Record) -> Campaign:
    # Campaigns saved before numbers were stored canonical hold `from` as it was typed.
    sender = row["sms_from"] and inputs.canonical_phone(row["sms_from"])
    return Campaign(row["campaign_id"], row["sms_text"], sender, row["token_ttl_seconds"])


async def create_campaign(db: asyncpg.Pool, caller: Caller, campaign_id: object, fields: Mapping[str, object]) -> None:
    if not isinstance(campaign_id, str) or not 1 <= len(campaign_id) <= 128:
        raise InvalidInput("campaignId: must be 1 to 128 characters")
    text, sender, ttl = _campaign_fields(fields)
    if await db.fetchval(query("insert_campaign"), caller.scope_id, campaign_id, text, sender, ttl) is None:
        raise CampaignExists(campaign_id)


async def update_campaign(db: asyncpg.Pool, caller: Caller, campaign_id: str, fields: Mapping[str, object]) -> None:
    text, sender, ttl = _campaign_fields(fields)
    if await db.fetchval(query("update_campaign"), caller.scope_id, campaign_id, text, sender, ttl) is None:
        raise CampaignNotFound(campaign_id)


async def delete_campaign(db: asyncpg.Pool, caller: Caller, campaign_id: str) -> None:
    if await db.fetchval(query("delete_campaign"), caller.scope_id, campaign_id) is None:
        raise CampaignNotFound(campaign_id)


async def list_campaigns(db: asyncpg.Pool, caller: Caller) -> list[Campaign]:
    return [_campaign(row) for row in await db.fetch(query("list_campaigns"), caller.scope_id)]


async def get_campaign(db: asyncpg.Pool, caller: Caller, campaign_id: str) -> Campaign:
    row = await db.fetchrow(query("get_campaign"), caller.scope_id, campaign_id)
    if row is None:
        raise CampaignNotFound(campaign_id)
    return _campaign(row)


async def _token_ttl(db: asyncpg.Pool, caller: Caller, aim: Target) -> int:
    """The target's token lifetime; raises its not-found error when it does not exist."""
    if aim.kind == "campaign":
        return (await get_campaign(db, caller, aim.target_id)).token_ttl_seconds
    if not await db.fetchval(query("interaction_exists"), caller.scope_id, aim.target_id):
        raise InteractionNotFound(aim.target_id)
    return DEFAULT_TOKEN_TTL_SECONDS


async def generate_token(db: asyncpg.Pool, caller: Caller, aim: Target, caller_id: object) -> Token:
    number = caller_number(caller_id)
    ttl = await _token_ttl(db, caller, aim)
    while True:  # 62^7 tokens: a collision is rare, and then drawing again settles it
        jp_token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(7))
        expires_at = await db.fetchval(
            query("insert_token"), caller.scope_id, jp_token, aim.kind, aim.target_id, number, float(ttl)
        )
        if expires_at is not None:
            return Token(jp_token, expires_at)


async def require_live_token(db: asyncpg.Pool, caller: Caller, aim: Target, jp_token: str) -> None:
    live = await db.fetchval(query("token_of_target"), caller.scope_id, jp_token, aim.kind, aim.target_id)
    if live is None:
        raise InvalidParameter("jpToken")
    if not live:
        raise TokenExpired()


async def count_incoming_call(
    db: asyncpg.Pool, caller: Caller, aim: Target, caller_id: object, jp_token: object
) -> None:
    """One more call for (jpToken, callerId, target): one record, its count incremented in place."""
    number, token = caller_number(caller_id), token_value(jp_token)
    await _token_ttl(db, caller, aim)
    await require_live_token(db, caller, aim, token)
    await db.execute(query("count_incoming_call"), caller.scope_id, token, number, aim.kind, aim.target_id)


async def mark_sms_sent(
    db: asyncpg.Pool, caller: Caller, campaign_id: str, caller_id: object, jp_token: object
) -> None:
    """Record that the campaign's SMS went out by other means (an external provider)."""
    number, token = caller_number(caller_id), token_value(jp_token)
    aim = Target("campaign", campaign_id)
    await get_campaign(db, caller, campaign_id)
    await require_live_token(db, caller, aim, token)
    await record_sms_sent(db, caller, aim, token, number)


async def record_sms_sent(db: asyncpg.Pool | Connection, caller: Caller, aim: Target, token: str, number: str) -> None:
    """Set smsSent on the (token, caller number, target) record, creating it if need be."""
    await db.execute(query("mark_sms_sent"), caller.scope_id, token, number, aim.kind, aim.target_id)


async def report(
    db: asyncpg.Pool, caller: Caller, aim: Target, start: datetime | None, end: datetime | None
) -> list[ReportRow]:
    await _token_ttl(db, caller, aim)
    rows = await db.fetch(
        query("deflection_report"), caller.scope_id, aim.kind, aim.target_id, start, end, REPORT_MAX_ROWS
    )
    return [
        ReportRow(r["jp_token"], r["caller_id"], r["calls_count"], r["sms_sent"], r["first_call_at"], r["last_call_at"])
        for r in rows
    ]
