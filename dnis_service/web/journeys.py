"""REST: campaigns, journey tokens, incoming-call counts, campaign SMS and the deflected-call
report (docs/rest.md), under /interact/version/{2|3}/account/{accountId}/resources."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter

from dnis_service.domain import inputs, journeys, sms
from dnis_service.domain.auth import AppKind
from dnis_service.domain.errors import InvalidParameter
from dnis_service.web.errors import domain_error
from dnis_service.web.openapi import protected, text
from dnis_service.web.params import JsonInteger
from dnis_service.web.state import CallerOf, Db

TEXT = MediaType.TEXT


class CampaignIn(msgspec.Struct):
    campaignId: str
    smsText: str
    tokenTtlSeconds: JsonInteger = journeys.DEFAULT_TOKEN_TTL_SECONDS
    sender: str | None = msgspec.field(default=None, name="from")


class CampaignChange(msgspec.Struct):
    smsText: str
    tokenTtlSeconds: JsonInteger = journeys.DEFAULT_TOKEN_TTL_SECONDS
    sender: str | None = msgspec.field(default=None, name="from")


class CampaignOut(msgspec.Struct):
    campaignId: str
    smsText: str
    tokenTtlSeconds: int
    sender: str | None = msgspec.field(name="from")


class CampaignList(msgspec.Struct):
    campaigns: list[CampaignOut]


class TokenRequest(msgspec.Struct):
    callerId: Any = None


class TokenOut(msgspec.Struct):
    jpToken: str
    expiresAt: datetime


class CallCount(msgspec.Struct):
    callerId: Any = None
    jpToken: Any = None


class SmsRequest(msgspec.Struct):
    callerId: Any = None
    jpToken: Any = None
    sender: Any = msgspec.field(default=None, name="from")
    additionalParams: Any = None


class ReportRowOut(msgspec.Struct):
    jpToken: str
    callerId: str
    incomingCallsCount: int
    smsSent: bool
    firstCallAt: datetime | None
    lastCallAt: datetime | None


class Totals(msgspec.Struct):
    records: int
    incomingCalls: int
    smsSent: int


class ReportOut(msgspec.Struct):
    targetType: str
    targetId: str
    rows: list[ReportRowOut]
    totals: Totals


def _campaign_out(campaign: journeys.Campaign) -> CampaignOut:
    return CampaignOut(campaign.campaign_id, campaign.sms_text, campaign.token_ttl_seconds, campaign.sms_from)


def _fields(data: CampaignIn | CampaignChange) -> dict[str, object]:
    return {"smsText": data.smsText, "from": data.sender, "tokenTtlSeconds": data.tokenTtlSeconds}


def journey_validation_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The vendor words a bad body as 'missing or invalid parameter <parameter>'."""
    assert isinstance(error, HTTPException)
    problems = error.extra if isinstance(error.extra, list) else []
    keys = [p.get("key") for p in problems if isinstance(p, dict) and p.get("key") not in (None, "data")]
    return domain_error(request, InvalidParameter(str(keys[0]) if keys else "body"))


def report_csv(rows: list[journeys.ReportRow], totals: Totals) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["jpToken", "callerId", "incomingCallsCount", "smsSent", "firstCallAt", "lastCallAt"])
    for r in rows:
        writer.writerow([r.jp_token, r.caller_id, r.incoming_calls, str(r.sms_sent).lower(),
                         r.first_call_at.isoformat() if r.first_call_at else "",
                         r.last_call_at.isoformat() if r.last_call_at else ""])
    writer.writerow(["TOTAL", totals.records, totals.incomingCalls, totals.smsSent, "", ""])
    return out.getvalue()


PUBLIC = protected(AppKind.PUBLIC, _403=text("Token expired"), _404=text("Campaign or interaction was not found"))


class JourneyController(Controller):
    """Served under version 2 and version 3 of the vendor's URLs (subclasses below)."""

    tags = ["journeys and SMS"]
    exception_handlers = {ValidationException: journey_validation_error, 400: journey_validation_error}

    @post("/campaigns", status_code=200, **protected(AppKind.PUBLIC, _409=text("Campaign exists")))
    async def create_campaign(
        self, db: Db, caller: CallerOf, account_id: FromPath[str], data: JSONBody[CampaignIn]
    ) -> CampaignOut:
        caller.require_account(account_id)
        await journeys.create_campaign(db, caller, data.campaignId, _fields(data))
        return _campaign_out(await journeys.get_campaign(db, caller, data.campaignId))

    @get("/campaigns", **protected(AppKind.PUBLIC))
    async def list_campaigns(
        self, db: Db, caller: CallerOf, account_id: FromPath[str]
    ) -> CampaignList:
        caller.require_account(account_id)
        return CampaignList([_campaign_out(c) for c in await journeys.list_campaigns(db, caller)])

    @put("/campaigns/{campaign_id:str}", **PUBLIC)
    async def update_campaign(
        self, db: Db, caller: CallerOf, account_id: FromPath[str],
        campaign_id: FromPath[str], data: JSONBody[CampaignChange],
    ) -> CampaignOut:
        caller.require_account(account_id)
        await journeys.update_campaign(db, caller, campaign_id, _fields(data))
        return _campaign_out(await journeys.get_campaign(db, caller, campaign_id))

    @delete("/campaigns/{campaign_id:str}", status_code=200, media_type=TEXT, **PUBLIC)
    async def delete_campaign(
        self, db: Db, caller: CallerOf, account_id: FromPath[str], campaign_id: FromPath[str]
    ) -> str:
        caller.require_account(account_id)
        await journeys.delete_campaign(db, caller, campaign_id)
        return ""

    @post("/jp/generateToken/{kind:str}/{target_id:str}", status_code=200, **PUBLIC)
    async def generate_token(
        self, db: Db, caller: CallerOf, account_id: FromPath[str], kind: FromPath[str],
        target_id: FromPath[str], data: JSONBody[TokenRequest],
    ) -> TokenOut:
        """A 7-character journey token for a caller of a campaign or interaction."""
        caller.require_account(account_id)
        token = await journeys.generate_token(db, caller, journeys.target(kind, target_id), data.callerId)
        return TokenOut(token.jp_token, token.expires_at)

    @post("/jp/updateIncomingCallsCount/{kind:str}/{target_id:str}", status_code=200, media_type=TEXT, **PUBLIC)
    async def count_call(
        self, db: Db, caller: CallerOf, account_id: FromPath[str], kind: FromPath[str],
        target_id: FromPath[str], data: JSONBody[CallCount],
    ) -> str:
        """One more incoming call with this token and caller id."""
        caller.require_account(account_id)
        await journeys.count_incoming_call(
            db, caller, journeys.target(kind, target_id), data.callerId, data.jpToken
        )
        return ""

    @post("/campaign/sms/{campaign_id:str}", status_code=200, media_type=TEXT,
          **protected(AppKind.PUBLIC, _403=text("Token expired"), _404=text("Campaign <id> was not found"),
                      _500=text("Your Telephony provider is not defined, please contact support")))
    async def send_sms(
        self, db: Db, caller: CallerOf, account_id: FromPath[str],
        campaign_id: FromPath[str], data: JSONBody[SmsRequest],
    ) -> str:
        """Queue the campaign's SMS to callerId."""
        caller.require_account(account_id)
        sid = await sms.queue_campaign_sms(
            db, caller, campaign_id, data.callerId, data.jpToken, data.sender, data.additionalParams
        )
        return f"Placed campaign {{{campaign_id}}} in SMS queue messageSid: {sid}"

    @post("/campaign/sms/notify/{campaign_id:str}", status_code=200, media_type=TEXT, **PUBLIC)
    async def notify_sms(
        self, db: Db, caller: CallerOf, account_id: FromPath[str],
        campaign_id: FromPath[str], data: JSONBody[CallCount],
    ) -> str:
        """Mark smsSent for a message sent by an external provider."""
        caller.require_account(account_id)
        await journeys.mark_sms_sent(db, caller, campaign_id, data.callerId, data.jpToken)
        return ""

    @get("/jp/report/{kind:str}/{target_id:str}",
         **protected(AppKind.PUBLIC, _404=text("Campaign or interaction was not found")))
    async def report(
        self, db: Db, caller: CallerOf, request: Request[Any, Any, Any],
        account_id: FromPath[str], kind: FromPath[str], target_id: FromPath[str],
        start: Annotated[str | None, QueryParameter(name="from", format="date-time")] = None,
        end: Annotated[str | None, QueryParameter(name="to", format="date-time")] = None,
    ) -> Response[Any]:
        """The deflected-call report: one row per (jpToken, callerId), and totals; CSV with Accept: text/csv."""
        caller.require_account(account_id)
        aim = journeys.target(kind, target_id)
        rows = await journeys.report(db, caller, aim, inputs.moment(start, "from"), inputs.moment(end, "to"))
        totals = Totals(len(rows), sum(r.incoming_calls for r in rows), sum(1 for r in rows if r.sms_sent))
        if "text/csv" in request.headers.get("accept", ""):
            return Response(report_csv(rows, totals), media_type="text/csv")
        body = ReportOut(aim.kind, aim.target_id, [
            ReportRowOut(r.jp_token, r.caller_id, r.incoming_calls, r.sms_sent, r.first_call_at, r.last_call_at)
            for r in rows
        ], totals)
        return Response(body, media_type=MediaType.JSON)


class JourneyControllerV2(JourneyController):
    path = "/interact/version/2/account/{account_id:str}/resources"


class JourneyControllerV3(JourneyController):
    path = "/interact/version/3/account/{account_id:str}/resources"
