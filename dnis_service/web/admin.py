"""The operator API (docs/operator.md): tenants, application keys, users, settings, pool stats and
sizing."""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from dnis_service.domain import inputs, sizing, tenants
from dnis_service.domain.errors import DnisError
from dnis_service.web.errors import admin_domain_error, problem_text, text_with_nul_as
from dnis_service.web.state import CredentialCacheOf, Db


def require_admin_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """No token configured: the operator API does not exist (404). Wrong token: 401."""
    token: str | None = connection.app.state.settings.admin_token
    if token is None:
        raise NotFoundException()
    given = connection.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise NotAuthorizedException("a valid 'Authorization: Bearer <DNIS_ADMIN_TOKEN>' header is required")


class NewTenant(msgspec.Struct):
    tenantId: str
    name: str | None = None
    environments: list[str] | None = None


class NewApplicationRequest(msgspec.Struct):
    kind: str
    name: str | None = None
    environment: str | None = None


class NewUser(msgspec.Struct):
    userId: str
    password: str


def settings_json(settings: tenants.TenantSettings) -> dict[str, Any]:
    provider = settings.sms_provider
    return {
        "defaultTimeoutSeconds": settings.default_timeout_seconds,
        "maxTimeoutSeconds": settings.max_timeout_seconds,
        "quarantineSeconds": settings.quarantine_seconds,
        "dtmfDigits": settings.dtmf_digits,
        # The secret is write-only: it is never shown back.
        "smsProvider": None if provider is None else {"url": provider.url, "account": provider.account},
        "targetBlocking": settings.target_blocking,
    }


class Problem(msgspec.Struct):
    message: str


def admin_http_error(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """Framework errors (bad token, bad body, API off) in the operator API's JSON shape."""
    assert isinstance(error, HTTPException)
    message = problem_text(error) if error.status_code == 400 else error.detail
    return Response(Problem(message), status_code=error.status_code)


ERRORS = {
    code: ResponseSpec(Problem, description=description, generate_examples=False)
    for code, description in [(400, "Invalid input, naming the field"), (401, "Missing or wrong admin token"),
                              (404, "Unknown tenant, application or user; or the operator API is off"),
                              (409, "Already exists")]
}


# Integers in the query, received as sent and read as decimal digits (web/params.py says why).
SizingDays = Annotated[Any, QueryParameter(schema_extra={
    "type": "integer", "minimum": 1, "maximum": sizing.MAX_DAYS, "default": sizing.DEFAULT_DAYS})]
PlannedPhones = Annotated[Any, QueryParameter(schema_extra={
    "type": "integer", "minimum": 0, "maximum": sizing.MAX_PHONES})]


class OperatorController(Controller):
    """What every controller of the operator API shares: the token, JSON errors, the OpenAPI tag."""

    guards = [require_admin_token]
    # The app's text answers to ValidationException and 400 would otherwise win over HTTPException.
    exception_handlers = {
        DnisError: admin_domain_error, HTTPException: admin_http_error,
        ValidationException: admin_http_error, 400: admin_http_error,
        **text_with_nul_as(admin_domain_error),
    }
    tags = ["operator"]
    security = [{"adminToken": []}]


class AdminController(OperatorController):
    path = "/admin/v1/tenants"

    @post("/", status_code=201, responses=ERRORS)
    async def create_tenant(self, db: Db, data: JSONBody[NewTenant]) -> dict[str, Any]:
        await tenants.create_tenant(db, data.tenantId, data.name, data.environments)
        return {"tenantId": data.tenantId}

    @post("/{tenant_id:str}/applications", status_code=201, responses=ERRORS)
    async def create_application(
        self, db: Db, tenant_id: FromPath[str], data: JSONBody[NewApplicationRequest]
    ) -> dict[str, Any]:
        """The key is shown in this answer only; the service keeps its SHA-256 digest."""
        app = await tenants.create_application(db, tenant_id, data.kind, data.name, data.environment)
        return {
            "applicationId": app.application_id, "applicationKey": app.application_key,
            "kind": app.kind, "environment": app.environment,
        }

    @delete("/{tenant_id:str}/applications/{application_id:str}", status_code=204, responses=ERRORS)
    async def revoke_application(
        self, db: Db, credential_cache: CredentialCacheOf, tenant_id: FromPath[str], application_id: FromPath[str]
    ) -> None:
        await tenants.revoke_application(db, tenant_id, application_id)
        credential_cache.clear()

    @post("/{tenant_id:str}/users", status_code=201, responses=ERRORS)
    async def create_user(
        self, db: Db, credential_cache: CredentialCacheOf, tenant_id: FromPath[str], data: JSONBody[NewUser]
    ) -> dict[str, Any]:
        await tenants.create_user(db, tenant_id, data.userId, data.password)
        credential_cache.clear()
        return {"userId": data.userId}

    @delete("/{tenant_id:str}/users/{user_id:str}", status_code=204, responses=ERRORS)
    async def delete_user(
        self, db: Db, credential_cache: CredentialCacheOf, tenant_id: FromPath[str], user_id: FromPath[str]
    ) -> None:
        await tenants.delete_user(db, tenant_id, user_id)
        credential_cache.clear()

    @get("/{tenant_id:str}/settings", responses=ERRORS)
    async def get_settings(self, db: Db, tenant_id: FromPath[str]) -> dict[str, Any]:
        return settings_json(await tenants.get_settings(db, tenant_id))

    @patch("/{tenant_id:str}/settings", responses=ERRORS)
    async def update_settings(
        self, db: Db, credential_cache: CredentialCacheOf, tenant_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        settings = await tenants.update_settings(db, tenant_id, data)
        credential_cache.clear()
        return settings_json(settings)

    @get("/{tenant_id:str}/pool", responses=ERRORS)
    async def pool(self, db: Db, tenant_id: FromPath[str]) -> dict[str, Any]:
        rows = await tenants.pool_stats(db, tenant_id)
        return {"tenantId": tenant_id, "pools": [_camel(asdict(row)) for row in rows]}

    @get("/{tenant_id:str}/pool/sizing", responses=ERRORS)
    async def pool_sizing(
        self, db: Db, tenant_id: FromPath[str], environment: FromQuery[str | None] = None,
        group: FromQuery[str | None] = None, days: SizingDays = None,
    ) -> list[dict[str, Any]]:
        """Per group: the busy hour's arrival rate, the mean time a number is kept, the offered load,
        and Erlang B's blocking for the enabled phones and the size that meets the tenant's target."""
        window = None if days is None else inputs.decimal_integer(days, "days", 1, sizing.MAX_DAYS)
        rows = await sizing.pool_sizing(db, tenant_id, environment, group, window)
        return [{k: v for k, v in _camel(asdict(row)).items() if k != "tenant"} for row in rows]


class PlannerController(OperatorController):
    path = "/admin/v1/sizing"

    @get("/", responses=ERRORS)
    async def plan(
        self,
        # Named as in the query, so that a type error names the parameter the caller sent.
        offeredLoad: FromQuery[float | None] = None,
        arrivalsPerHour: FromQuery[float | None] = None,
        holdSeconds: FromQuery[float | None] = None,
        phones: PlannedPhones = None,
        targetBlocking: FromQuery[float | None] = None,
    ) -> dict[str, Any]:
        """Erlang B for a pool with no traffic yet: the blocking of `phones` numbers, or the smallest
        size meeting `targetBlocking`, under `offeredLoad` Erlangs (or `arrivalsPerHour` *
        `holdSeconds` / 3600)."""
        size = None if phones is None else inputs.decimal_integer(phones, "phones", 0, sizing.MAX_PHONES)
        answer = sizing.plan(offeredLoad, arrivalsPerHour, holdSeconds, size, targetBlocking)
        target = {} if answer.target_blocking is None else {"targetBlocking": answer.target_blocking}
        return {"offeredLoad": answer.offered_load, **target, "phones": answer.phones, "blocking": answer.blocking}


def _camel(row: dict[str, Any]) -> dict[str, Any]:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return {camel(key): value for key, value in row.items()}
