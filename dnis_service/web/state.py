"""What the request handlers share: the pool, the authenticator and the limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from dnis_service.domain.allocations import Limits
from dnis_service.domain.auth import AppKind, Authenticator, Caller, Credentials
from dnis_service.domain.credential_cache import CredentialCache

# Handler parameters filled by the app's dependencies (see dnis_service/app.py).
Db = NamedDependency[asyncpg.Pool]
CallerOf = NamedDependency[Caller]
LimitsOf = NamedDependency[Limits]
# Operator changes empty it at once here; other replicas hear of them by notification.
CredentialCacheOf = NamedDependency[CredentialCache]


@dataclass(frozen=True)
class Auth:
    """Route option: which application key (and whether user credentials) a route needs."""

    kind: AppKind
    user: bool = False


def auth(kind: AppKind, user: bool = False) -> dict[str, Auth]:
    return {"auth": Auth(kind, user)}


def provide_db(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.db
    return pool


# litestar resolves the dependencies of one depth concurrently, in an anyio task group per
# request: 5 % of the service's CPU under load for three cheap lookups. Chained (db → caller →
# limits), they resolve one after the other with no task group.
def provide_limits(state: State, caller: CallerOf) -> Limits:
    limits: Limits = state.limits
    return limits


def provide_credential_cache(state: State) -> CredentialCache:
    authenticator: Authenticator = state.authenticator
    return authenticator.credential_cache


async def provide_caller(request: Request[Any, Any, State], db: Db) -> Caller:
    required: Auth = request.route_handler.opt["auth"]
    credentials = Credentials.from_headers(request.headers)
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(db, credentials, required.kind, required.user)
