"""What the OpenAPI document says about authentication and error answers, in one place."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, Reference, SecurityScheme

from dnis_service.domain.auth import AppKind
from dnis_service.web.state import auth


class Unauthorized(msgspec.Struct):
    """The 401 body; the header Unauthenticated-Reason says why."""

    code: str
    message: str
    moreInfoUrl: str


def _header(name: str, description: str) -> SecurityScheme:
    return SecurityScheme(type="apiKey", name=name, security_scheme_in="header", description=description)


SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "tenantId": _header("Tenant-Id", "The tenant (account)."),
    "applicationKey": _header("Application-Key", "A key of the kind the operation names (web, dnis, public)."),
    "userId": _header("User-Id", "Base64 of the user name."),
    "userPassword": _header("User-Password", "Base64 of the user's password."),
    "adminToken": SecurityScheme(type="http", scheme="bearer", description="DNIS_ADMIN_TOKEN"),
}


def text(description: str) -> ResponseSpec:
    return ResponseSpec(str, media_type=MediaType.TEXT, description=description, generate_examples=False)


def json_body(container: Any, description: str) -> ResponseSpec:
    return ResponseSpec(container, description=description, generate_examples=False)


UNAUTHORIZED = json_body(Unauthorized, "Missing or wrong credentials, or a key of another kind or environment")
UNAVAILABLE = text("The database is unavailable; try again shortly")
UNAVAILABLE_OR_BUSY = text("The database is unavailable, or too many password checks are in progress; try "
                           "again after Retry-After")
THROTTLED = json_body(Unauthorized, "Too many failed password attempts for this user lately; try again after "
                                    "Retry-After")


def protected(kind: AppKind, user: bool = False, **responses: ResponseSpec) -> dict[str, Any]:
    """Route options for an operation that needs a key of `kind` (and user credentials):
    the check itself (see web.state), and what the OpenAPI document says about it.

    `responses` maps status codes (as "_404") to their specs; 400, 401 and 503 are always there,
    and 429 where user credentials are checked.
    """
    names = ["tenantId", "applicationKey", *(["userId", "userPassword"] if user else [])]
    requirement: dict[str, list[str]] = {name: [] for name in names}
    return {
        **auth(kind, user),
        "security": [requirement],
        "responses": {
            400: text("A reason naming the field"),
            401: UNAUTHORIZED,
            **({429: THROTTLED} if user else {}),
            503: UNAVAILABLE_OR_BUSY if user else UNAVAILABLE,
            **{int(code.lstrip("_")): spec for code, spec in responses.items()},
        },
    }


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="dnis-service",
        version="2",
        path="/schema",
        components=Components(security_schemes=SECURITY_SCHEMES),
    )
