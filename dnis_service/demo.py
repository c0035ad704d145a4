"""`serve --demo`: a demo tenant, keys, a user and 20 phones, created once, and curl commands."""

from __future__ import annotations

import base64
import json
import os
import shlex
from pathlib import Path

import asyncpg

from dnis_service.domain import phones, tenants
from dnis_service.domain.auth import AppKind
from dnis_service.domain.errors import TenantExists

TENANT = "12345678"
USER, PASSWORD = "admin", "password"
PHONE_COUNT = 20


def _keys_file(data_dir: Path) -> Path:
    return data_dir / "demo-keys.json"


async def ensure_demo_tenant(db: asyncpg.Pool, data_dir: Path) -> dict[str, str] | None:
    """Create the demo tenant if it is not there; returns the keys (kept in data_dir), if known."""
    try:
        await tenants.create_tenant(db, TENANT, "Demo tenant")
    except TenantExists:
        return _saved_keys(data_dir)
    keys = {kind.value: (await tenants.create_application(db, TENANT, kind.value, f"demo {kind.value}")).application_key
            for kind in AppKind}
    await tenants.create_user(db, TENANT, USER, PASSWORD)
    caller = await tenants.operator_caller(db, TENANT)
    specs = [
        phones.phone_spec({"phoneNumber": f"+1 555 010 {n:04d}", "dnId": f"{n:04d}",
                           "groupName": "sales" if n <= PHONE_COUNT // 2 else "support"})
        for n in range(1, PHONE_COUNT + 1)
    ]
    await phones.create_phones(db, caller, specs)
    _save_keys(data_dir, keys)
    return keys


def _save_keys(data_dir: Path, keys: dict[str, str]) -> None:
    """The demo's keys stay in its data directory, readable by its owner only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = _keys_file(data_dir)
    path.write_text(json.dumps(keys))
    os.chmod(path, 0o600)


def _saved_keys(data_dir: Path) -> dict[str, str] | None:
    path = _keys_file(data_dir)
    return json.loads(path.read_text()) if path.exists() else None


def curl_commands(base_url: str, keys: dict[str, str]) -> str:
    api = f"{base_url}/interact/version/2/dnis"
    tenant = f"-H 'Tenant-Id: {TENANT}'"
    user = (f"-H 'User-Id: {base64.b64encode(USER.encode()).decode()}' "
            f"-H 'User-Password: {base64.b64encode(PASSWORD.encode()).decode()}'")
    web = f"{tenant} -H 'Application-Key: {keys['web']}'"
    dnis = f"{tenant} -H 'Application-Key: {keys['dnis']}'"
    body = shlex.quote(json.dumps({"id": "Unique Id 3", "timeoutSeconds": 120}))
    return "\n".join([
        "# allocate a phone to interaction 'Unique Id 3' (keeps the number in $PHONE):",
        f"PHONE=$(curl -s -X POST {api}/allocate/new {web} -H 'Content-Type: application/json' -d {body}); echo $PHONE",
        "# which interaction holds it (what the IVR asks):",
        f"curl -s {api}/allocate/get/$PHONE {dnis}; echo",
        "# free it:",
        f"curl -s -X POST {api}/allocate/free/$PHONE {dnis} {user} -w '%{{http_code}}\\n'",
        "# list the pool:",
        f"curl -s {api} {dnis} {user}; echo",
    ])
