"""The errors of the domain; each carries what its documented message needs.

The web (and later SOAP) adapters map these to status codes and texts; no adapter
invents an error text of its own.
"""

from __future__ import annotations

import asyncpg

DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"
# The database cannot be reached, is shutting down or restarting, or its database is gone, or
# no server of the URL is a read-write primary (db/servers.py raises a ConnectionError), or a
# connection's server turned read-only (a switchover demotes it): the request may succeed
# later, so adapters answer "unavailable" rather than "internal error".
DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    OSError,
    TimeoutError,
)

# PostgreSQL stores no NUL character in text or jsonb, and only a caller's text can carry one
# (JSON's \u0000): the statement fails and changes nothing, and the caller is told why.
TEXT_WITH_NUL: tuple[type[Exception], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)
TEXT_WITH_NUL_MESSAGE = "text values must not contain the NUL character (\\u0000)"


class DnisError(Exception):
    """Base of every error a caller may see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthenticated(DnisError):
    """Missing or wrong credentials; `reason` goes to the Unauthenticated-Reason header only."""

    MESSAGE = "Request is unauthorized, missing or wrong credentials"

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGE)
        self.reason = reason


class PasswordAttemptsThrottled(DnisError):
    """Too many failed password attempts for one (tenant, user) lately: refused without a KDF run."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many failed password attempts for this user; try again later")
        self.retry_after_seconds = retry_after_seconds


class PasswordChecksBusy(DnisError):
    """Every place of the password KDF's thread pool is taken: refused at once, never queued."""

    RETRY_AFTER_SECONDS = 1

    def __init__(self) -> None:
        super().__init__("Too many password checks in progress; try again shortly")


class InvalidInput(DnisError):
    """Bad input; the message names the field (and row)."""


class NotFound(DnisError):
    """The thing named does not exist in the caller's scope."""


class Conflict(DnisError):
    """The request contradicts the current state."""


class PhoneNotFound(NotFound):
    def __init__(self, phone: str) -> None:
        super().__init__(f"Phone number {phone} was not found")


class DtmfCodeNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__(f"DTMF code {code} was not found")


class AllocationNotFound(NotFound):
    def __init__(self, phone: str, unique_id: str) -> None:
        super().__init__(f"Phone number {phone} is not allocated to interaction {unique_id}")


class TenantNotFound(NotFound):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"Tenant {tenant_id} was not found")


class ApplicationNotFound(NotFound):
    def __init__(self, application_id: str) -> None:
        super().__init__(f"Application {application_id} was not found")


class UserNotFound(NotFound):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"User {user_id} was not found")


class PhoneExists(Conflict):
    def __init__(self, phone_number: str) -> None:
        super().__init__(f"Cannot create Phone '{phone_number}'. A phone with that name already exists")


class DuplicatePhones(Conflict):
    def __init__(self, duplicates: list[str]) -> None:
        shown = ", ".join(duplicates[:50]) + (" ..." if len(duplicates) > 50 else "")
        super().__init__(f"{len(duplicates)} phones already exist or are repeated: {shown}")
        self.duplicates = duplicates


class ImportTooLarge(DnisError):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"body: an import is at most {limit_bytes:,} bytes; split it into smaller ones")


class DnIdExists(Conflict):
    def __init__(self, dn_id: str) -> None:
        super().__init__(f"A phone with dnId '{dn_id}' already exists")


class PhoneAllocated(Conflict):
    def __init__(self, phone: str) -> None:
        super().__init__(f"Phone number {phone} is allocated; free it first or use force=true")


class AllocatedToAnother(Conflict):
    def __init__(self, phone: str, what: str = "Phone number") -> None:
        super().__init__(f"{what} {phone} is allocated to another interaction")


class TenantExists(Conflict):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"Tenant {tenant_id} already exists")


class UserExists(Conflict):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"User {user_id} already exists")


class PoolExhausted(DnisError):
    """No phone (or code) can be handed out now; callers should retry later."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self) -> None:
        super().__init__("Currently there are no available phone numbers")


class InteractionNotFound(NotFound):
    def __init__(self, unique_id: str) -> None:
        super().__init__(f"Interaction {unique_id} was not found")
        self.unique_id = unique_id


class InteractionExists(Conflict):
    def __init__(self, unique_id: str) -> None:
        super().__init__(f"Interaction {unique_id} already exists")


class UnsupportedOperation(InvalidInput):
    def __init__(self, operation: str) -> None:
        super().__init__(f"Operation {operation} is not supported by the DNIS service")


class UniqueIdNotFound(NotFound):
    def __init__(self, label: str, value: str) -> None:
        super().__init__(f"UUID for {label} {value} was not found")


class Forbidden(DnisError):
    """Understood, but not allowed now."""


class TokenExpired(Forbidden):
    def __init__(self) -> None:
        super().__init__("Token expired")


class InvalidParameter(InvalidInput):
    """The vendor's wording for bad journey input."""

    def __init__(self, parameter: str) -> None:
        super().__init__(f"missing or invalid parameter {parameter}")
        self.parameter = parameter


class CampaignNotFound(NotFound):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"Campaign {campaign_id} was not found")


class CampaignExists(Conflict):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"Campaign {campaign_id} already exists")


class ProviderNotDefined(DnisError):
    """No SMS provider is configured for the tenant (a 500, as the vendor answers)."""

    def __init__(self) -> None:
        super().__init__("Your Telephony provider is not defined, please contact support")
