"""Settings from DNIS_* environment variables, validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path
    host: str
    port: int
    public_url: str
    admin_token: str | None
    default_timeout_seconds: int
    max_timeout_seconds: int
    sweep_interval_seconds: float
    retention_days: int
    log_level: str
    log_format: str
    pool_min_size: int
    pool_max_size: int
    migrate_on_start: bool
    more_info_url: str
    statement_timeout_seconds: float
    run_jobs: bool
    soap_max_body_bytes: int
    sms_retry_base_seconds: float
    auth_cache_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        host = reader.text("DNIS_HOST", "127.0.0.1")
        port = reader.number("DNIS_PORT", 8080, int, low=1, high=65535)
        settings = cls(
            database_url=reader.optional("DNIS_DATABASE_URL"),
            data_dir=Path(reader.text("DNIS_DATA_DIR", ".dnis-data")),
            host=host,
            port=port,
            public_url=reader.text("DNIS_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            admin_token=reader.optional("DNIS_ADMIN_TOKEN"),
            default_timeout_seconds=reader.number("DNIS_DEFAULT_TIMEOUT_SECONDS", 300, int, low=1),
            max_timeout_seconds=reader.number("DNIS_MAX_TIMEOUT_SECONDS", 3600, int, low=1),
            sweep_interval_seconds=reader.number("DNIS_SWEEP_INTERVAL_SECONDS", 1.0, float, low=0.05),
            retention_days=reader.number("DNIS_RETENTION_DAYS", 30, int, low=1),
            log_level=reader.choice("DNIS_LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=reader.choice("DNIS_LOG_FORMAT", "text", LOG_FORMATS),
            pool_min_size=reader.number("DNIS_DB_POOL_MIN_SIZE", 2, int, low=0),
            pool_max_size=reader.number("DNIS_DB_POOL_MAX_SIZE", 10, int, low=1),
            migrate_on_start=reader.flag("DNIS_MIGRATE_ON_START", True),
            more_info_url=reader.text("DNIS_MORE_INFO_URL", "https://example.invalid/dnis-service/support"),
            statement_timeout_seconds=reader.number("DNIS_DB_STATEMENT_TIMEOUT_SECONDS", 5.0, float, low=0.1),
            run_jobs=reader.flag("DNIS_RUN_JOBS", True),
            soap_max_body_bytes=reader.number("DNIS_SOAP_MAX_BODY_BYTES", 64 * 1024, int, low=1024),
            sms_retry_base_seconds=reader.number("DNIS_SMS_RETRY_BASE_SECONDS", 2.0, float, low=0.01),
            auth_cache_seconds=reader.number("DNIS_AUTH_CACHE_SECONDS", 30.0, float, low=0.0),
        )
        if settings.default_timeout_seconds > settings.max_timeout_seconds:
            raise ConfigError("DNIS_DEFAULT_TIMEOUT_SECONDS must not exceed DNIS_MAX_TIMEOUT_SECONDS")
        if settings.pool_min_size > settings.pool_max_size:
            raise ConfigError("DNIS_DB_POOL_MIN_SIZE must not exceed DNIS_DB_POOL_MAX_SIZE")
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def number(
        self, name: str, default: T, parse: Callable[[str], T], low: float | None = None, high: float | None = None
    ) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a valid {parse.__name__}") from None
        if (low is not None and value < low) or (high is not None and value > high):  # type: ignore[operator]
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"{name}={raw!r} must be {bounds}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of choices, whatever the case it is written in."""
        raw = self.text(name, default)
        for choice in choices:
            if raw.lower() == choice.lower():
                return choice
        raise ConfigError(f"{name}={raw!r} must be one of {', '.join(choices)}")

    def flag(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} must be true or false")
