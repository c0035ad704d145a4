from __future__ import annotations

from tests.conftest import DNIS, Tenant, add_phones


async def test_allocate_get_free_round_trip(client, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    allocated = await client.post(f"{DNIS}/allocate/new", json={"id": "Unique Id 3"}, headers=tenant.web)
    assert allocated.status_code == 200
    assert allocated.text == phone
    held = await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)
    assert held.text == "Unique Id 3"
    freed = await client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
    assert (freed.status_code, freed.text) == (200, "")
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == ""
