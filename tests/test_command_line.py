"""The dnis-service command, run as a subprocess against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "dnis-service")


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def on_db(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DNIS_DATABASE_URL": database_url, "DNIS_DATA_DIR": str(tmp_path)}


def test_migrate_twice_applies_nothing_the_second_time(on_db) -> None:
    assert run("migrate", env=on_db).returncode == 0
    second = run("migrate", env=on_db | {"DNIS_LOG_LEVEL": "INFO"})
    assert second.returncode == 0
    assert "migrations applied=0" in second.stderr


def test_tenant_app_user_and_phones_from_the_command_line(on_db, tmp_path: Path, db) -> None:
    assert run("tenant", "create", "cli-tenant", "--environment", "Prod", env=on_db).returncode == 0
    app = run("app", "create", "cli-tenant", "--kind", "web", env=on_db)
    assert app.returncode == 0
    assert json.loads(app.stdout)["kind"] == "web"
    assert run("user", "create", "cli-tenant", "ops", env=on_db | {"DNIS_USER_PASSWORD": "pa55word!"}).returncode == 0
    csv_file = tmp_path / "phones.csv"
    csv_file.write_text("phoneNumber,dnId,groupName\n+1 555 777 0001,0001,sales\n+1 555 777 0002,0002,sales\n")
    imported = run("phones", "import", "cli-tenant", str(csv_file), env=on_db)
    assert (imported.returncode, json.loads(imported.stdout)) == (0, {"created": 2})
    stats = json.loads(run("pool", "stats", "cli-tenant", env=on_db).stdout)
    assert [(row["group"], row["free"]) for row in stats] == [("sales", 2)]


def test_import_with_a_bad_row_exits_non_zero_naming_it_and_writes_nothing(on_db, tmp_path: Path) -> None:
    run("tenant", "create", "cli-tenant", env=on_db)
    csv_file = tmp_path / "phones.csv"
    csv_file.write_text("phoneNumber\n15557770001\nnot-a-number\n")
    result = run("phones", "import", "cli-tenant", str(csv_file), env=on_db)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["dnis-service: row 2: phoneNumber: 'not-a-number' is not a phone "
                                                  "number (1 to 20 digits, optional + and separators)"]


@pytest.mark.parametrize(("env", "expected"), [
    ({"DNIS_PORT": "abc"}, "DNIS_PORT"),
    ({"DNIS_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/x"}, "cannot connect to the database at 127.0.0.1:1/x"),
    # A Patroni cluster's host list, in both of its forms: each server named, and why it refused.
    ({"DNIS_DATABASE_URL": "postgresql://u:p@127.0.0.1:1,127.0.0.2:2/x?target_session_attrs=read-write"},
     "cannot connect to the database at 127.0.0.1:1,127.0.0.2:2/x: 127.0.0.1:1: "),
    ({"DNIS_DATABASE_URL": "postgresql://u:p@/x?host=127.0.0.1,127.0.0.2&port=1,2"},
     "cannot connect to the database at 127.0.0.1:1,127.0.0.2:2/x: 127.0.0.1:1: "),
    ({"DNIS_DATABASE_URL": "postgresql://u:p@/x?host=127.0.0.1,127.0.0.2&port=1,2,3"},
     "cannot connect to the database at 127.0.0.1,127.0.0.2/x: 3 ports for 2 hosts"),
])
def test_bad_setting_stops_serve_with_one_clear_line(env: dict[str, str], expected: str) -> None:
    result = run("serve", env=env, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dnis-service: ") and expected in lines[0]
    assert "Traceback" not in result.stderr and "u:p@" not in result.stderr


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("dnis-service: ") and expected in lines[0]


@pytest.fixture
def import_file(tmp_path: Path) -> Path:
    return tmp_path / "phones.csv"


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"),
    ("directory", "cannot read"),
    (b"phoneNumber\n1555\xff7770001\n", "is not UTF-8 text (byte 16)"),
    (b"phoneNumber\n" + b"1" * 200_000 + b"\n", "csv: line 2: field larger than field limit"),
    (b"phoneNumber\n", "csv: no rows after the header"),
], ids=["missing", "a directory", "not UTF-8", "a field over the csv limit", "a header only"])
def test_an_import_file_that_cannot_be_read_is_one_line_and_exit_2(on_db, import_file: Path, content, expected) -> None:
    if content == "directory":
        import_file.mkdir()
    elif content is not None:
        import_file.write_bytes(content)
    run("tenant", "create", "cli-tenant", env=on_db)
    assert_one_line_exit_2(run("phones", "import", "cli-tenant", str(import_file), env=on_db), expected)


def test_an_import_file_over_the_size_limit_is_refused_before_it_is_read_whole(on_db, import_file: Path) -> None:
    from dnis_service.domain.phones import IMPORT_MAX_BYTES

    with import_file.open("wb") as file:
        file.write(b"phoneNumber\n")
        file.truncate(IMPORT_MAX_BYTES + 1)
    result = run("phones", "import", "cli-tenant", str(import_file), env=on_db)
    assert_one_line_exit_2(result, f"is over {IMPORT_MAX_BYTES} bytes")


def test_an_import_file_saved_with_a_byte_order_mark_is_imported(on_db, import_file: Path) -> None:
    run("tenant", "create", "cli-tenant", env=on_db)
    import_file.write_text("\ufeffphoneNumber\n15557770001\n", encoding="utf-8")
    imported = run("phones", "import", "cli-tenant", str(import_file), env=on_db)
    assert (imported.returncode, json.loads(imported.stdout)) == (0, {"created": 1})


def test_user_create_with_no_password_and_no_terminal_is_one_line_and_exit_2(on_db) -> None:
    run("tenant", "create", "cli-tenant", env=on_db)
    env = {key: value for key, value in {**os.environ, **on_db}.items() if key != "DNIS_USER_PASSWORD"}
    result = subprocess.run([CLI, "user", "create", "cli-tenant", "ops"], env=env, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert_one_line_exit_2(result, "no password: set DNIS_USER_PASSWORD")


async def test_pool_sizing_prints_a_table_with_a_line_per_group(on_db, db, tmp_path: Path) -> None:
    run("tenant", "create", "cli-tenant", env=on_db)
    csv_file = tmp_path / "phones.csv"
    csv_file.write_text("phoneNumber,groupName\n15557770001,sales\n15557770002,sales\n15557770003,support\n")
    assert run("phones", "import", "cli-tenant", str(csv_file), env=on_db).returncode == 0
    # 90 allocations two hours ago, each held 120 s: 3 Erlangs in the busy hour.
    await db.execute(
        """INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at,
                                      ended_at, end_reason)
           SELECT s.scope_id, (8000000000 + n)::text, 'sales', 'h' || n, at, at + interval '1 hour',
                  at + interval '120 seconds', 'freed'
           FROM scopes s, generate_series(1, 90) n,
                LATERAL (SELECT date_trunc('hour', now(), 'UTC') - interval '2 hours' AS at) t
           WHERE s.tenant_id = 'cli-tenant'"""
    )
    result = run("pool", "sizing", "cli-tenant", "--days", "2", env=on_db)
    assert result.returncode == 0, result.stderr
    header, sales, support = (line.split() for line in result.stdout.strip().splitlines())
    assert header[:3] == ["ENVIRONMENT", "GROUP", "PHONES"]
    # environment, group, phones, busy hour (date, time), arrivals/h, hold, load, predicted, observed, target, size
    assert sales[:3] + sales[5:8] + sales[9:] == ["default", "sales", "2", "90.0", "120.0", "3.00", "0.000%",
                                                  "0.100%", "10"]
    assert support[:3] + support[4:] == ["default", "support", "1", "0.0", "-", "0.00", "0.000%", "-", "0.100%", "1"]


def test_pool_plan_sizes_a_pool_without_a_database() -> None:
    result = run("pool", "plan", "--offered-load", "10", "--target-blocking", "0.01",
                 env={"DNIS_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/nowhere"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"offeredLoad": 10.0, "targetBlocking": 0.01, "phones": 18,
                                         "blocking": pytest.approx(0.00714244, rel=1e-5)}


def test_pool_plan_takes_arrivals_and_seconds_held() -> None:
    result = run("pool", "plan", "--arrivals-per-hour", "3600", "--hold-seconds", "10", "--phones", "10")
    assert json.loads(result.stdout) == {"offeredLoad": 10.0, "phones": 10,
                                         "blocking": pytest.approx(0.214582, rel=1e-5)}


@pytest.mark.parametrize(("args", "named"), [
    (["--offered-load", "nan", "--phones", "3"], "offeredLoad"),
    (["--offered-load", "1e12", "--phones", "3"], "offeredLoad"),
    (["--phones", "3"], "offeredLoad"),
    (["--offered-load", "1", "--target-blocking", "1"], "targetBlocking"),
])
def test_pool_plan_with_bad_input_exits_2_with_one_line(args: list[str], named: str) -> None:
    assert_one_line_exit_2(run("pool", "plan", *args), named)
