"""Who is calling: application keys, user credentials and the (tenant, environment) scope."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

from dnis_service import logs
from dnis_service.domain.credential_cache import CredentialCache
from dnis_service.domain.errors import NotAuthenticated
from dnis_service.domain.password_checks import PasswordChecker

DEFAULT_ENVIRONMENT = "default"


class AppKind(StrEnum):
    WEB = "web"
    DNIS = "dnis"
    PUBLIC = "public"


@dataclass(frozen=True)
class Credentials:
    """The authentication headers as received; None where a header is absent."""

    tenant_id: str | None
    application_key: str | None
    environment: str | None = None
    user_id: str | None = None
    user_password: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Credentials:
        """From HTTP headers, REST or SOAP alike (lower-case names)."""
        return cls(
            tenant_id=headers.get("tenant-id"),
            application_key=headers.get("application-key"),
            environment=headers.get("environment-name"),
            user_id=headers.get("user-id"),
            user_password=headers.get("user-password"),
        )


@dataclass(frozen=True)
class TenantPolicy:
    default_timeout_seconds: int | None
    max_timeout_seconds: int | None
    quarantine_seconds: int
    dtmf_digits: int


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    environment: str
    scope_id: int
    kind: AppKind
    policy: TenantPolicy

    def require_account(self, account_id: str) -> None:
        """An {accountId} in a URL must name the caller's tenant."""
        if account_id != self.tenant_id:
            raise NotAuthenticated("accountId in the URL differs from Tenant-Id")


def new_application_key() -> str:
    return secrets.token_urlsafe(32)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _decode_base64(value: str, header: str) -> str:
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and a non-ASCII character in the header
        raise NotAuthenticated(f"{header} is not Base64 of UTF-8 text") from None
    if "\x00" in text:  # PostgreSQL text cannot hold it: no user has it in their name
        raise NotAuthenticated(f"{header} contains the NUL character")
    return text


class Authenticator:
    def __init__(self, credential_cache: CredentialCache, passwords: PasswordChecker | None = None) -> None:
        self.credential_cache = credential_cache
        self._passwords = passwords or PasswordChecker()

    async def authenticate(
        self, db: asyncpg.Pool, credentials: Credentials, kind: AppKind, needs_user: bool
    ) -> Caller:
        if not credentials.tenant_id:
            raise NotAuthenticated("missing Tenant-Id")
        if not credentials.application_key:
            raise NotAuthenticated("missing Application-Key")
        user_id = None
        if needs_user:
            if not credentials.user_id or not credentials.user_password:
                raise NotAuthenticated("missing User-Id or User-Password")
            user_id = _decode_base64(credentials.user_id, "User-Id")
        row = await self.credential_cache.lookup(db, key_digest(credentials.application_key), user_id)
        if row is None or row["tenant_id"] != credentials.tenant_id:
            raise NotAuthenticated("unknown application key for this tenant")
        if row["kind"] != kind.value:
            raise NotAuthenticated(f"a {kind.value} application key is required")
        if row["environment"] != (credentials.environment or DEFAULT_ENVIRONMENT):
            raise NotAuthenticated("the application key belongs to another environment")
        if needs_user:
            assert credentials.user_password is not None and user_id is not None
            password = _decode_base64(credentials.user_password, "User-Password")
            if not await self._passwords.matches(db, row["tenant_id"], user_id, password, row["password_hash"]):
                raise NotAuthenticated("wrong user credentials")
        logs.note_tenant(row["tenant_id"])
        return Caller(
            tenant_id=row["tenant_id"],
            environment=row["environment"],
            scope_id=row["scope_id"],
            kind=AppKind(row["kind"]),
            policy=TenantPolicy(
                default_timeout_seconds=row["default_timeout_seconds"],
                max_timeout_seconds=row["max_timeout_seconds"],
                quarantine_seconds=row["quarantine_seconds"],
                dtmf_digits=row["dtmf_digits"],
            ),
        )
