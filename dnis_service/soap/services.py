"""The SOAP operations of the vendor's API, each a translation of one domain call.

A spyne method here returns a coroutine; the server (soap/server.py) awaits it. What the
method needs (pool, caller's credentials, limits) comes in ctx.udc, a SoapCall.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from spyne import Boolean, ServiceBase, Unicode, rpc

from dnis_service.domain import allocations, journeys, lookups, phones, sms
from dnis_service.domain.allocations import Limits
from dnis_service.domain.auth import AppKind, Authenticator, Caller, Credentials
from dnis_service.domain.errors import (
    InvalidParameter,
    NotFound,
    PhoneNotFound,
    ProviderNotDefined,
    TokenExpired,
)

AGENT_NS = "http://com/jacada/interact/agent/soap"
DNIS_NS = "http://com/jacada/interact/dnis/soap"
SUCCESS = "Success"


@dataclass(frozen=True)
class SoapCall:
    """What one SOAP request carries into its operation."""

    db: asyncpg.Pool
    authenticator: Authenticator
    credentials: Credentials
    limits: Limits

    async def caller(self, kind: AppKind, user: bool = False) -> Caller:
        return await self.authenticator.authenticate(self.db, self.credentials, kind, user)


def _call(ctx: Any) -> SoapCall:
    call: SoapCall = ctx.udc
    return call


def _messages(namespace: str, name: str) -> dict[str, str]:
    """The operation's <name>Request and <name>Response elements, as in the vendor's WSDL, in its
    own namespace whichever application serves it (the agent endpoint serves both namespaces)."""
    return {"_in_message_name": f"{{{namespace}}}{name}Request",
            "_out_message_name": f"{{{namespace}}}{name}Response"}


def operation(namespace: str, name: str, out: str, *params: Any) -> Callable[[Any], Any]:
    """A document/literal operation answering one element, `out`."""
    return rpc(  # type: ignore[no-any-return]
        *params, **_messages(namespace, name), _returns=Unicode, _out_variable_name=out,
    )


async def _unique_id(call: SoapCall, criteria: str | None, value: str | None) -> str:
    caller = await call.caller(AppKind.PUBLIC)
    try:
        return await lookups.find_unique_id(
            call.db, caller, criteria or "", value or "", call.limits.retention_days
        )
    except NotFound as missing:  # as the vendor does: the not-found text is the answer, not a fault
        return missing.message


async def _holder(call: SoapCall, phone: str | None) -> str:
    caller = await call.caller(AppKind.DNIS)
    try:
        return await allocations.phone_holder(call.db, caller, phone or "") or ""
    except NotFound as missing:
        return missing.message


async def _allocate(call: SoapCall, unique_id: str | None, group: str | None) -> str:
    caller = await call.caller(AppKind.WEB)
    allocation = await allocations.allocate_phone(call.db, caller, call.limits, unique_id, group or None, None)
    return allocation.phone_number or ""


async def _free(call: SoapCall, phone: str | None) -> str:
    caller = await call.caller(AppKind.DNIS, user=True)
    try:
        ended = await allocations.free_phone(call.db, caller, phone or "")
    except NotFound as missing:
        return missing.message
    # As the vendor does: a phone that is there but not allocated answers as if it were not found.
    return SUCCESS if ended else PhoneNotFound(phone or "").message


async def _create_phone(
    call: SoapCall, phone_number: str | None, dn_id: str | None, group_name: str | None, enabled: bool | None
) -> str:
    caller = await call.caller(AppKind.DNIS, user=True)
    spec = phones.phone_spec({"phoneNumber": phone_number, "dnId": dn_id, "groupName": group_name,
                              "enabled": True if enabled is None else enabled})
    return str(await phones.create_phone(call.db, caller, spec))


class DnisService(ServiceBase):  # type: ignore[misc]

    @operation(DNIS_NS, "FreeDnisAllocation", "result", Unicode(min_occurs=1))
    def FreeDnisAllocation(ctx: Any, phone: str | None) -> Awaitable[str]:
        return _free(_call(ctx), phone)

    @operation(DNIS_NS, "CreatePhone", "id", Unicode(min_occurs=1), Unicode, Unicode, Boolean)
    def CreatePhone(
        ctx: Any, phoneNumber: str | None, dnId: str | None, groupName: str | None, enabled: bool | None
    ) -> Awaitable[str]:
        return _create_phone(_call(ctx), phoneNumber, dnId, groupName, enabled)


async def _answer_or_error(call: SoapCall, work: Callable[[Caller], Awaitable[str]]) -> tuple[str | None, str | None]:
    """(message, None) on success; (None, text) for the errors the vendor answers in the
    response's uniqueId element. Invalid input raises (a Client fault), as the vendor does for tokens."""
    caller = await call.caller(AppKind.PUBLIC)
    try:
        return await work(caller), None
    except InvalidParameter as invalid:
        if invalid.parameter == "jpToken":
            raise
        return None, "M" + invalid.message[1:]  # "Missing or invalid parameter <parameter>"
    except (NotFound, ProviderNotDefined, TokenExpired) as refused:
        return None, refused.message


async def _count_call(
    call: SoapCall, jp_token: str | None, campaign_id: str | None, interaction_id: str | None, caller_id: str | None
) -> tuple[str | None, str | None]:
    async def count(caller: Caller) -> str:
        aim = journeys.Target("campaign", campaign_id) if campaign_id else journeys.Target(
            "interaction", interaction_id or "")
        await journeys.count_incoming_call(call.db, caller, aim, caller_id, jp_token)
        return "message: Success"

    return await _answer_or_error(call, count)


async def _campaign_sms(
    call: SoapCall, campaign_id: str | None, additional_params: str | None, caller_id: str | None,
    sender: str | None, jp_token: str | None,
) -> tuple[str | None, str | None]:
    async def queue(caller: Caller) -> str:
        sid = await sms.queue_campaign_sms(call.db, caller, campaign_id or "", caller_id, jp_token or None,
                                           sender or None, additional_params)
        return f"message: Campaign {campaign_id} was sent to queue messageSid: {sid}"

    return await _answer_or_error(call, queue)


def journey_operation(name: str, *params: Any) -> Callable[[Any], Any]:
    """The vendor's answers: a `message` on success, a `uniqueId` carrying the error text otherwise."""
    return rpc(  # type: ignore[no-any-return]
        *params, **_messages(AGENT_NS, name), _returns=(Unicode, Unicode),
        _out_variable_names=("message", "uniqueId"), _in_variable_names={"_from": "from"},
    )


class AgentService(ServiceBase):  # type: ignore[misc]

    @operation(AGENT_NS, "GetInteractionUniqueId", "uniqueId", Unicode(min_occurs=1), Unicode(min_occurs=1))
    def GetInteractionUniqueId(ctx: Any, searchCreteria: str | None, searchValue: str | None) -> Awaitable[str]:
        return _unique_id(_call(ctx), searchCreteria, searchValue)

    @operation(AGENT_NS, "GetDnisAllocation", "uniqueId", Unicode(min_occurs=1))
    def GetDnisAllocation(ctx: Any, phone: str | None) -> Awaitable[str]:
        return _holder(_call(ctx), phone)

    @operation(AGENT_NS, "AllocateDnis", "phone", Unicode(min_occurs=1), Unicode)
    def AllocateDnis(ctx: Any, uniqueId: str | None, group: str | None) -> Awaitable[str]:
        return _allocate(_call(ctx), uniqueId, group)

    @journey_operation("UpdateIncomingCallsCount", Unicode(min_occurs=1), Unicode, Unicode, Unicode(min_occurs=1))
    def UpdateIncomingCallsCount(
        ctx: Any, jpToken: str | None, campaignId: str | None, interactionId: str | None, callerId: str | None
    ) -> Awaitable[tuple[str | None, str | None]]:
        return _count_call(_call(ctx), jpToken, campaignId, interactionId, callerId)

    @journey_operation("CampaignSMS",
                       Unicode(min_occurs=1), Unicode, Unicode(min_occurs=1), Unicode, Boolean, Unicode)
    def CampaignSMS(
        ctx: Any, campaignId: str | None, additionalParams: str | None, callerId: str | None, _from: str | None,
        sendFromMasterAccount: bool | None, jpToken: str | None,
    ) -> Awaitable[tuple[str | None, str | None]]:
        return _campaign_sms(_call(ctx), campaignId, additionalParams, callerId, _from, jpToken)
