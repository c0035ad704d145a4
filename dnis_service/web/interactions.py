"""REST: uniqueId lookups and interactions (docs/rest.md), for the public application key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from dnis_service.domain import interactions, lookups
from dnis_service.domain.auth import AppKind
from dnis_service.domain.errors import DnisError, InteractionExists, InteractionNotFound
from dnis_service.web.errors import problem_text, text_with_nul_as
from dnis_service.web.openapi import json_body, protected, text
from dnis_service.web.params import PageSize, page_size
from dnis_service.web.state import CallerOf, Db, LimitsOf


class LookupController(Controller):
    path = "/interact/agent/version/2/account/{account_id:str}/uniqueId"
    tags = ["lookups"]

    @get("/{attribute:str}/{value:str}", media_type=MediaType.TEXT,
         **protected(AppKind.PUBLIC, _404=text("UUID for <label> <value> was not found")))
    async def unique_id(
        self, db: Db, caller: CallerOf, limits: LimitsOf, account_id: FromPath[str], attribute: FromPath[str],
        value: FromPath[str],
    ) -> str:
        """The interaction id that a DTMF code, call-return number, dialled number or historySearchId leads to."""
        caller.require_account(account_id)
        return await lookups.find_unique_id(db, caller, attribute, value, limits.retention_days)


class NewInteraction(msgspec.Struct):
    uniqueId: str | None = None
    userData: dict[str, Any] | None = None


class Operation(msgspec.Struct):
    operationName: str
    userData: dict[str, Any] | None = None


class InteractionOut(msgspec.Struct, omit_defaults=True):
    uniqueId: str
    state: str
    userData: dict[str, Any]
    createdAt: datetime
    updatedAt: datetime
    phoneNumber: str | None = None
    dtmf: str | None = None


class InteractionPage(msgspec.Struct):
    statusCode: int
    interactions: list[InteractionOut]
    next: str | None


class InteractionCreated(msgspec.Struct):
    statusCode: int
    uniqueId: str


class OperationDone(msgspec.Struct, omit_defaults=True):
    """{"status": "ok"} after user data, {"statusCode": 0} after Complete or Cancel, as the vendor answers."""

    status: str | None = None
    statusCode: int | None = None


class OperationFailed(msgspec.Struct):
    status: str
    errorDescription: str


class InteractionMissing(msgspec.Struct):
    statusCode: int
    statusMessage: str


def interaction_out(interaction: interactions.Interaction) -> InteractionOut:
    return InteractionOut(
        uniqueId=interaction.unique_id, state=interaction.state, userData=interaction.user_data,
        createdAt=interaction.created_at, updatedAt=interaction.updated_at,
        phoneNumber=interaction.phone_number, dtmf=interaction.dtmf,
    )


def public(**responses: ResponseSpec) -> dict[str, Any]:
    """A public-key operation of the interactions API, whose errors are JSON, as the vendor's are."""
    options = protected(AppKind.PUBLIC, False, **responses)
    options["responses"][400] = json_body(OperationFailed, "Invalid input or an unsupported operation")
    return options


MISSING = json_body(InteractionMissing, "Interaction <id> was not found")


def interaction_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The vendor's shapes: {"statusCode": 1, ...} for an unknown id, {"status": "error", ...} otherwise."""
    if isinstance(error, InteractionNotFound):
        return Response(InteractionMissing(1, error.message), status_code=404)
    if isinstance(error, HTTPException):  # a body or parameter the framework refused
        return Response(OperationFailed("error", problem_text(error)), status_code=400)
    assert isinstance(error, DnisError)
    status = 409 if isinstance(error, InteractionExists) else 400
    return Response(OperationFailed("error", error.message), status_code=status)


class InteractionController(Controller):
    path = "/interact/version/2/interactions"
    tags = ["interactions"]
    exception_handlers = {
        DnisError: interaction_error,
        ValidationException: interaction_error,
        400: interaction_error,
        **text_with_nul_as(interaction_error),
    }

    @post("/", status_code=200, **public(_409=json_body(OperationFailed, "The interaction exists")))
    async def create(self, db: Db, caller: CallerOf, data: JSONBody[NewInteraction]) -> InteractionCreated:
        """Create an interaction (a UUID is generated when uniqueId is absent)."""
        return InteractionCreated(0, await interactions.create_interaction(db, caller, data.uniqueId, data.userData))

    @get("/", **public())
    async def list_active(
        self, db: Db, caller: CallerOf, limit: PageSize = None, after: FromQuery[str | None] = None
    ) -> InteractionPage:
        """The scope's active interactions, newest first; pass `next` as `after` for the next page."""
        page, cursor = await interactions.list_interactions(db, caller, page_size(limit), after)
        return InteractionPage(0, [interaction_out(i) for i in page], cursor)

    @get("/{unique_id:str}", **public(_404=MISSING))
    async def get_one(self, db: Db, caller: CallerOf, unique_id: FromPath[str]) -> InteractionOut:
        return interaction_out(await interactions.get_interaction(db, caller, unique_id))

    @post("/{unique_id:str}", status_code=200, **public(_404=MISSING))
    async def operate(
        self, db: Db, caller: CallerOf, unique_id: FromPath[str], data: JSONBody[Operation]
    ) -> OperationDone:
        """AttachUserData, UpdateUserData, DeleteUserData, Complete, Cancel."""
        outcome = await interactions.apply_operation(db, caller, unique_id, data.operationName, data.userData)
        return OperationDone(statusCode=0) if outcome == "ended" else OperationDone(status="ok")
