"""The operator's side: tenants, their environments, application keys, users and settings."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from dnis_service.db.queries import query
from dnis_service.domain import inputs
from dnis_service.domain.auth import (
    DEFAULT_ENVIRONMENT,
    AppKind,
    Caller,
    TenantPolicy,
    key_digest,
    new_application_key,
)
from dnis_service.domain.dtmf import MAX_DIGITS, MIN_DIGITS
from dnis_service.domain.errors import (
    ApplicationNotFound,
    InvalidInput,
    TenantExists,
    TenantNotFound,
    UserExists,
    UserNotFound,
)
from dnis_service.domain.passwords import hash_password

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class NewApplication:
    application_id: str
    application_key: str
    kind: str
    environment: str


@dataclass(frozen=True)
class SmsProvider:
    url: str
    account: str
    secret: str


@dataclass(frozen=True)
class TenantSettings:
    default_timeout_seconds: int | None
    max_timeout_seconds: int | None
    quarantine_seconds: int
    dtmf_digits: int
    sms_provider: SmsProvider | None


@dataclass(frozen=True)
class PoolStats:
    environment: str
    group: str
    free: int
    allocated: int
    disabled: int
    allocations_last_hour: int
    releases_last_hour: int
    peak_concurrent_allocations: int


def _name(raw: object, field: str) -> str:
    if not isinstance(raw, str) or not _NAME.fullmatch(raw):
        raise InvalidInput(f"{field}: must be 1 to 64 letters, digits or _.-")
    return raw


async def create_tenant(
    db: asyncpg.Pool, tenant_id: object, name: object = None, environments: object = None
) -> None:
    tenant = _name(tenant_id, "tenantId")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("name: must be a string")
    if environments is None:
        environments = []
    if not isinstance(environments, list):
        raise InvalidInput("environments: must be an array of names")
    names = [_name(env, "environments") for env in environments]
    async with db.acquire() as conn, conn.transaction():
        if await conn.fetchval(query("insert_tenant"), tenant, name) is None:
            raise TenantExists(tenant)
        await conn.execute(query("insert_scopes"), tenant, sorted({DEFAULT_ENVIRONMENT, *names}))


async def _require_tenant(db: asyncpg.Pool | asyncpg.Connection, tenant_id: str) -> None:
    if not await db.fetchval(query("tenant_exists"), tenant_id):
        raise TenantNotFound(tenant_id)


async def operator_caller(db: asyncpg.Pool, tenant_id: str, environment: str = DEFAULT_ENVIRONMENT) -> Caller:
    """The scope of an operator's task (CLI, demo), with the tenant's policy, as a dnis caller."""
    await _require_tenant(db, tenant_id)
    row = await db.fetchrow(query("operator_scope"), tenant_id, environment)
    if row is None:
        raise InvalidInput(f"environment: tenant {tenant_id} has no environment {environment!r}")
    policy = TenantPolicy(
        row["default_timeout_seconds"], row["max_timeout_seconds"], row["quarantine_seconds"], row["dtmf_digits"]
    )
    return Caller(tenant_id, environment, row["scope_id"], AppKind.DNIS, policy)


async def create_application(
    db: asyncpg.Pool, tenant_id: str, kind: object, name: object = None, environment: object = None
) -> NewApplication:
    if kind not in [k.value for k in AppKind]:
        raise InvalidInput("kind: must be web, dnis or public")
    env = DEFAULT_ENVIRONMENT if environment is None else _name(environment, "environment")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("name: must be a string")
    scope_id = (await operator_caller(db, tenant_id, env)).scope_id
    key = new_application_key()
    application_id = uuid.uuid4()
    await db.execute(query("insert_application"), application_id, scope_id, kind, name, key_digest(key))
    return NewApplication(str(application_id), key, str(kind), env)


async def revoke_application(db: asyncpg.Pool, tenant_id: str, application_id: str) -> None:
    try:
        parsed = uuid.UUID(application_id)
    except ValueError:
        raise ApplicationNotFound(application_id) from None
    if await db.fetchval(query("delete_application"), tenant_id, parsed) is None:
        raise ApplicationNotFound(application_id)


async def create_user(db: asyncpg.Pool, tenant_id: str, user_id: object, password: object) -> None:
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 128:
        raise InvalidInput("userId: must be 1 to 128 characters")
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidInput("password: must be at least 8 characters")
    await _require_tenant(db, tenant_id)
    if await db.fetchval(query("insert_user"), tenant_id, user_id, await hash_password(password)) is None:
        raise UserExists(user_id)


async def delete_user(db: asyncpg.Pool, tenant_id: str, user_id: str) -> None:
    if await db.fetchval(query("delete_user"), tenant_id, user_id) is None:
        raise UserNotFound(user_id)


async def get_settings(db: asyncpg.Pool, tenant_id: str) -> TenantSettings:
    row = await db.fetchrow(query("tenant_settings"), tenant_id)
    if row is None:
        raise TenantNotFound(tenant_id)
    provider = row["sms_provider"]
    return TenantSettings(
        default_timeout_seconds=row["default_timeout_seconds"],
        max_timeout_seconds=row["max_timeout_seconds"],
        quarantine_seconds=row["quarantine_seconds"],
        dtmf_digits=row["dtmf_digits"],
        sms_provider=SmsProvider(**provider) if provider else None,
    )


def _positive_or_none(changes: Mapping[str, object], field: str, current: int | None) -> int | None:
    if field not in changes:
        return current
    value = changes[field]
    return None if value is None else inputs.integer(value, field)


def _sms_provider(raw: object) -> SmsProvider | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"url", "account", "secret"}:
        raise InvalidInput("smsProvider: must be null or an object with url, account and secret")
    if not all(isinstance(raw[k], str) and raw[k] for k in ("url", "account", "secret")):
        raise InvalidInput("smsProvider: url, account and secret must be non-empty strings")
    if not str(raw["url"]).startswith(("http://", "https://")):
        raise InvalidInput("smsProvider.url: must be an http(s) URL")
    return SmsProvider(str(raw["url"]), str(raw["account"]), str(raw["secret"]))


async def update_settings(db: asyncpg.Pool, tenant_id: str, changes: Mapping[str, object]) -> TenantSettings:
    allowed = {"defaultTimeoutSeconds", "maxTimeoutSeconds", "quarantineSeconds", "dtmfDigits", "smsProvider"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}")
    current = await get_settings(db, tenant_id)
    default = _positive_or_none(changes, "defaultTimeoutSeconds", current.default_timeout_seconds)
    maximum = _positive_or_none(changes, "maxTimeoutSeconds", current.max_timeout_seconds)
    if default is not None and maximum is not None and default > maximum:
        raise InvalidInput("defaultTimeoutSeconds: must not exceed maxTimeoutSeconds")
    quarantine = inputs.integer(changes.get("quarantineSeconds", current.quarantine_seconds), "quarantineSeconds", 0)
    digits = inputs.integer(changes.get("dtmfDigits", current.dtmf_digits), "dtmfDigits", MIN_DIGITS, MAX_DIGITS)
    provider = _sms_provider(changes["smsProvider"]) if "smsProvider" in changes else current.sms_provider
    await db.execute(
        query("update_tenant_settings"), tenant_id, default, maximum, quarantine, digits,
        None if provider is None else vars(provider),
    )
    return await get_settings(db, tenant_id)


async def pool_stats(db: asyncpg.Pool, tenant_id: str) -> list[PoolStats]:
    await _require_tenant(db, tenant_id)
    return [PoolStats(**dict(row)) for row in await db.fetch(query("pool_stats"), tenant_id)]
