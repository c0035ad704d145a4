"""Settings from DNIS_* variables: defaults, and one clear line for a bad value."""

from __future__ import annotations

import pytest

from dnis_service.config import ConfigError, Settings


def test_defaults_need_no_variables() -> None:
    settings = Settings.from_env({})
    assert (settings.database_url, settings.port, settings.default_timeout_seconds, settings.max_timeout_seconds,
            settings.sweep_interval_seconds, settings.retention_days) == (None, 8080, 300, 3600, 1.0, 30)
    assert settings.public_url == "http://127.0.0.1:8080"


def test_variables_are_read() -> None:
    settings = Settings.from_env({"DNIS_PORT": "9000", "DNIS_HOST": "0.0.0.0", "DNIS_PUBLIC_URL": "https://x/",
                                  "DNIS_LOG_LEVEL": "debug", "DNIS_MIGRATE_ON_START": "false"})
    assert (settings.port, settings.public_url, settings.log_level, settings.migrate_on_start) == (
        9000, "https://x", "DEBUG", False)


def test_logs_are_text_unless_json_is_asked_for() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"DNIS_LOG_FORMAT": "JSON"}).log_format == "json"


@pytest.mark.parametrize(("env", "named"), [
    ({"DNIS_PORT": "abc"}, "DNIS_PORT"),
    ({"DNIS_PORT": "70000"}, "DNIS_PORT"),
    ({"DNIS_DEFAULT_TIMEOUT_SECONDS": "7200"}, "DNIS_DEFAULT_TIMEOUT_SECONDS"),
    ({"DNIS_LOG_LEVEL": "LOUD"}, "DNIS_LOG_LEVEL"),
    ({"DNIS_LOG_FORMAT": "xml"}, "DNIS_LOG_FORMAT"),
    ({"DNIS_MIGRATE_ON_START": "maybe"}, "DNIS_MIGRATE_ON_START"),
    ({"DNIS_SWEEP_INTERVAL_SECONDS": "0"}, "DNIS_SWEEP_INTERVAL_SECONDS"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert named in str(error.value)
    assert "\n" not in str(error.value)
