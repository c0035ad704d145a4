"""REST: uniqueId lookups (CONTRACT §5) and interactions (§6), for the public application key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody

from dnis_service.domain import interactions, lookups
from dnis_service.domain.auth import AppKind, Caller
from dnis_service.domain.errors import DnisError, InteractionExists, InteractionNotFound, NotAuthenticated
from dnis_service.web.errors import problem_text
from dnis_service.web.state import CallerOf, Db, LimitsOf, auth


class LookupController(Controller):
    path = "/interact/agent/version/2/account/{account_id:str}/uniqueId"
    tags = ["lookups"]

    @get("/{attribute:str}/{value:str}", media_type=MediaType.TEXT, opt=auth(AppKind.PUBLIC))
    async def unique_id(
        self, db: Db, caller: CallerOf, limits: LimitsOf, account_id: FromPath[str], attribute: FromPath[str],
        value: FromPath[str],
    ) -> str:
        """The interaction id that a DTMF code, call-return number, dialled number or historySearchId leads to."""
        require_account(caller, account_id)
        return await lookups.find_unique_id(db, caller, attribute, value, limits.retention_days)


def require_account(caller: Caller, account_id: str) -> None:
    if account_id != caller.tenant_id:
        raise NotAuthenticated("accountId in the URL differs from Tenant-Id")


class NewInteraction(msgspec.Struct):
    uniqueId: str | None = None
    userData: dict[str, Any] | None = None


class Operation(msgspec.Struct):
    operationName: str
    userData: dict[str, Any] | None = None


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def interaction_json(interaction: interactions.Interaction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uniqueId": interaction.unique_id,
        "state": interaction.state,
        "userData": interaction.user_data,
        "createdAt": _iso(interaction.created_at),
        "updatedAt": _iso(interaction.updated_at),
    }
    if interaction.phone_number is not None:
        body["phoneNumber"] = interaction.phone_number
    if interaction.dtmf is not None:
        body["dtmf"] = interaction.dtmf
    return body


def interaction_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Seed 002's shapes: {"statusCode": 1, ...} for an unknown id, {"status": "error", ...} otherwise."""
    if isinstance(error, InteractionNotFound):
        return Response({"statusCode": 1, "statusMessage": error.message}, status_code=404)
    if isinstance(error, ValidationException):
        return Response({"status": "error", "errorDescription": problem_text(error)}, status_code=400)
    assert isinstance(error, DnisError)
    status = 409 if isinstance(error, InteractionExists) else 400
    return Response({"status": "error", "errorDescription": error.message}, status_code=status)


class InteractionController(Controller):
    path = "/interact/version/2/interactions"
    tags = ["interactions"]
    opt = auth(AppKind.PUBLIC)
    exception_handlers = {
        DnisError: interaction_error,
        ValidationException: interaction_error,
        400: interaction_error,
    }

    @post("/", status_code=200)
    async def create(self, db: Db, caller: CallerOf, data: JSONBody[NewInteraction]) -> dict[str, Any]:
        """Create an interaction (a UUID is generated when uniqueId is absent)."""
        uid = await interactions.create_interaction(db, caller, data.uniqueId, data.userData)
        return {"statusCode": 0, "uniqueId": uid}

    @get("/")
    async def list_active(
        self, db: Db, caller: CallerOf, limit: FromQuery[int] = 100, after: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        """The scope's active interactions, newest first; pass `next` as `after` for the next page."""
        page, cursor = await interactions.list_interactions(db, caller, limit, after)
        return {"statusCode": 0, "interactions": [interaction_json(i) for i in page], "next": cursor}

    @get("/{unique_id:str}")
    async def get_one(self, db: Db, caller: CallerOf, unique_id: FromPath[str]) -> dict[str, Any]:
        return interaction_json(await interactions.get_interaction(db, caller, unique_id))

    @post("/{unique_id:str}", status_code=200)
    async def operate(
        self, db: Db, caller: CallerOf, unique_id: FromPath[str], data: JSONBody[Operation]
    ) -> dict[str, Any]:
        """AttachUserData, UpdateUserData, DeleteUserData, Complete, Cancel."""
        outcome = await interactions.apply_operation(db, caller, unique_id, data.operationName, data.userData)
        return {"statusCode": 0} if outcome == "ended" else {"status": "ok"}
