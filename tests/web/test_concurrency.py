"""Concurrency, proven: no phone is handed out twice, whatever the timing or the replica count."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest

from dnis_service.db.queries import query
from dnis_service.domain import dtmf
from tests.conftest import DNIS, Tenant, add_phones, expire_phone, serve_in_process
from tests.invariants import invariant_violations

ALLOCATE = f"{DNIS}/allocate/new"

# Two holds of one phone that overlap in time; must never exist.
async def test_50_concurrent_allocations_on_10_phones_take_each_phone_once(client, db, tenant: Tenant) -> None:
    phones = await add_phones(client, tenant, 10)
    responses = await asyncio.gather(
        *(client.post(ALLOCATE, json={"id": f"u{n}"}, headers=tenant.web) for n in range(50))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 10, 403: 40}
    taken = [r.text for r in responses if r.status_code == 200]
    assert sorted(taken) == sorted(phones)
    assert await db.fetchval("SELECT count(*) FROM phone_allocations WHERE ended_at IS NULL") == 10


async def test_20_concurrent_allocations_for_one_interaction_take_one_phone(client, db, tenant: Tenant) -> None:
    await add_phones(client, tenant, 10)
    responses = await asyncio.gather(
        *(client.post(ALLOCATE, json={"id": "same"}, headers=tenant.web) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM phone_allocations") == 1


async def test_concurrent_allocations_for_one_interaction_across_groups_take_one_phone(
    client, db, tenant: Tenant
) -> None:
    await add_phones(client, tenant, 5, group="sales")
    await add_phones(client, tenant, 5, group="support", start=10)
    responses = await asyncio.gather(
        *(client.post(ALLOCATE, json={"id": "same"}, headers=tenant.web) for _ in range(20))
    )
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM phone_allocations") == 1


async def test_concurrent_dtmf_allocations_for_one_interaction_take_one_code(client, db, tenant: Tenant) -> None:
    responses = await asyncio.gather(
        *(client.post(f"{DNIS}/allocate/dtmf", json={"id": "same"}, headers=tenant.web) for _ in range(20))
    )
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM allocations") == 1


@pytest.fixture
async def second_replica(settings, database_url):
    """Another instance of the service on the same database, with its own pool."""
    async with serve_in_process(settings, database_url) as replica:
        yield replica


async def test_concurrent_allocations_for_one_interaction_with_and_without_attributes_take_one_phone(
    client, db, tenant: Tenant
) -> None:
    # With attributes the allocation runs in a transaction that writes the interaction's row
    # first; without, it is the bare function: both take the interaction id's lock first.
    await add_phones(client, tenant, 10)
    bodies = [{"id": "same"} if n % 2 else {"id": "same", "historySearchId": f"h{n}"} for n in range(20)]
    responses = await asyncio.gather(*(client.post(ALLOCATE, json=body, headers=tenant.web) for body in bodies))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM phone_allocations") == 1


async def test_extends_racing_frees_and_allocations_extend_only_their_own_allocation(
    client, second_replica, db, tenant: Tenant
) -> None:
    phones = await add_phones(client, tenant, 4)
    rng = random.Random(11)
    replicas = [client, second_replica]
    held: dict[str, str] = {}  # phone -> the interaction it was last allocated to
    extended: dict[tuple[str, str, datetime], datetime] = {}  # (phone, uid, allocatedAt) -> latest expiresAt

    async def worker(worker_id: int) -> None:
        for step in range(30):
            replica = rng.choice(replicas)
            action = rng.random()
            if action < 0.4:
                uid = f"w{worker_id}-{step}"
                response = await replica.post(ALLOCATE, json={"id": uid, "timeoutSeconds": 60}, headers=tenant.web)
                assert response.status_code in (200, 403), response.text
                if response.status_code == 200:
                    held[response.text] = uid
            elif action < 0.7 and held:
                phone, uid = rng.choice(sorted(held.items()))
                response = await replica.post(f"{DNIS}/allocate/extend/{phone}",
                                              json={"id": uid, "timeoutSeconds": 120}, headers=tenant.web)
                assert response.status_code in (200, 404), response.text
                if response.status_code == 200:
                    body = response.json()
                    key = (phone, uid, datetime.fromisoformat(body["allocatedAt"]))
                    extended[key] = max(extended.get(key, datetime.min.replace(tzinfo=UTC)),
                                        datetime.fromisoformat(body["expiresAt"]))
            else:
                phone = rng.choice(phones)
                response = await replica.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
                assert response.status_code == 200, response.text

    await asyncio.gather(*(worker(n) for n in range(8)))
    assert await invariant_violations(db) == []
    assert len(extended) > 5
    # Each extension answered 200 lengthened the very allocation it named, and nothing else did.
    rows = await db.fetch("SELECT phone_number, unique_id, allocated_at, expires_at FROM phone_allocations")
    recorded = {(r["phone_number"], r["unique_id"], r["allocated_at"]): r["expires_at"] for r in rows}
    for key, expires_at in extended.items():
        assert recorded[key] == expires_at


async def test_an_extension_that_waited_for_another_counts_from_after_it(client, db, tenant: Tenant) -> None:
    """An extension that read the clock, then waited for a concurrent extension of the same
    allocation, must not move the expiry back to before that extension's."""
    [phone] = await add_phones(client, tenant, 1)
    await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    async with row_locked(db, PHONE_STATE, phone) as (conn, (phone_id, allocated_at)):
        extending = asyncio.create_task(client.post(f"{DNIS}/allocate/extend/{phone}",
                                                    json={"id": "u1", "timeoutSeconds": 120}, headers=tenant.web))
        await until_waiting_for_a_lock(db)
        first = await conn.fetchrow(query("extend_allocation"), phone_id, allocated_at, 120.0)
    response = await extending
    assert response.status_code == 200, response.text
    second = datetime.fromisoformat(response.json()["expiresAt"])
    assert second > first["expires_at"]
    assert await db.fetchval("SELECT expires_at FROM phone_states WHERE phone_id = $1", phone_id) == second


async def test_an_allocation_that_expired_while_its_extension_waited_stays_expired(
    client, db, tenant: Tenant
) -> None:
    """The extension waits for a transaction that only locks the phone's row (as an operator's
    change of the phone does) until the allocation has expired: it is not brought back."""
    [phone] = await add_phones(client, tenant, 1)
    allocated = await client.post(ALLOCATE, json={"id": "u1", "timeoutSeconds": 1},
                                  headers=tenant.web | {"Accept": "application/json"})
    expires_at = datetime.fromisoformat(allocated.json()["expiresAt"])
    async with row_locked(db, PHONE_STATE, phone) as (conn, (phone_id, _)):
        extending = asyncio.create_task(client.post(f"{DNIS}/allocate/extend/{phone}",
                                                    json={"id": "u1", "timeoutSeconds": 120}, headers=tenant.web))
        await until_waiting_for_a_lock(db)
        while await conn.fetchval("SELECT clock_timestamp()") <= expires_at:
            await asyncio.sleep(0.05)
    assert (await extending).status_code == 404
    assert await db.fetchval("SELECT expires_at FROM phone_states WHERE phone_id = $1", phone_id) == expires_at


async def test_a_free_that_waited_for_an_extension_ends_the_allocation_after_it(client, db, tenant: Tenant) -> None:
    [phone] = await add_phones(client, tenant, 1)
    await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    async with row_locked(db, PHONE_STATE, phone) as (conn, (phone_id, allocated_at)):
        freeing = asyncio.create_task(client.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user))
        await until_waiting_for_a_lock(db)
        assert await conn.fetchrow(query("extend_allocation"), phone_id, allocated_at, 120.0)
        extended_before = await conn.fetchval("SELECT clock_timestamp()")
    assert (await freeing).status_code == 200
    ended_at, reason = await db.fetchrow("SELECT ended_at, end_reason FROM phone_history WHERE phone_number = $1",
                                         phone)
    assert (ended_at > extended_before, reason) == (True, "freed")


PHONE_STATE = """SELECT s.phone_id, s.allocated_at FROM phone_states s JOIN phones p USING (phone_id)
                 WHERE p.phone_number = $1 FOR UPDATE OF s"""


@asynccontextmanager
async def row_locked(db, locking_query: str, *args: object) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Record]]:
    """Runs `locking_query` (a SELECT … FOR UPDATE) in a transaction left open until the block ends."""
    async with db.acquire() as conn, conn.transaction():
        yield conn, await conn.fetchrow(locking_query, *args)


async def test_allocations_racing_frees_and_expiries_never_overlap(
    client, second_replica, db, tenant: Tenant
) -> None:
    phones = await add_phones(client, tenant, 8)
    rng = random.Random(7)
    replicas = [client, second_replica]

    async def worker(worker_id: int) -> None:
        for step in range(25):
            replica = rng.choice(replicas)
            action = rng.random()
            if action < 0.6:
                body = {"id": f"w{worker_id}-{step}", "timeoutSeconds": 60}
                response = await replica.post(ALLOCATE, json=body, headers=tenant.web)
                assert response.status_code in (200, 403), response.text
            elif action < 0.85:
                phone = rng.choice(phones)
                response = await replica.post(f"{DNIS}/allocate/free/{phone}", headers=tenant.dnis_user)
                assert response.status_code == 200, response.text
            else:
                await expire_phone(db, rng.choice(phones))

    await asyncio.gather(*(worker(n) for n in range(16)))

    assert await invariant_violations(db) == []
    assert await db.fetchval("SELECT count(*) FROM phone_history WHERE ended_at < allocated_at") == 0
    assert await db.fetchval("SELECT count(*) FROM phone_allocations") > 50


async def test_allocations_racing_frees_forced_deletes_and_recreations_leave_one_holder_at_a_time(
    client, second_replica, db, tenant: Tenant
) -> None:
    """Known interactions (whose allocations run in a transaction) take and give back a few
    numbers while those numbers are deleted with force and created again: at every moment of the
    history, each number had at most one holder."""
    phones = await add_phones(client, tenant, 3)
    rng = random.Random(11)
    replicas = [client, second_replica]

    async def allocator(worker_id: int) -> None:
        for step in range(40):
            replica = rng.choice(replicas)
            body = {"id": f"i{rng.randrange(6)}", "timeoutSeconds": 60, "historySearchId": f"w{worker_id}-{step}"}
            response = await replica.post(ALLOCATE, json=body, headers=tenant.web)
            assert response.status_code in (200, 403), response.text
            if response.status_code == 200:
                await replica.post(f"{DNIS}/allocate/free/{response.text}", headers=tenant.dnis_user)

    async def recreator() -> None:
        for _ in range(30):
            phone = rng.choice(phones)
            deleted = await rng.choice(replicas).delete(f"{DNIS}/{phone}", params={"force": "true"},
                                                        headers=tenant.dnis_user)
            assert deleted.status_code in (200, 404), deleted.text
            created = await rng.choice(replicas).post(DNIS, json={"phoneNumber": phone}, headers=tenant.dnis_user)
            assert created.status_code in (200, 409), created.text

    await asyncio.gather(*(allocator(n) for n in range(8)), recreator())

    assert await invariant_violations(db) == []
    for phone in phones:
        history = (await client.get(f"{DNIS}/{phone}/history", headers=tenant.dnis_user)).json()["allocations"]
        assert len(history) > 5
        for held in history:
            at = await client.get(f"{DNIS}/{phone}/history", params={"at": held["allocatedAt"]},
                                  headers=tenant.dnis_user)
            assert [h["uniqueId"] for h in at.json()["allocations"]] == [held["uniqueId"]]


@asynccontextmanager
async def interaction_held(db, tenant: Tenant, uid: str) -> AsyncIterator[None]:
    """Holds interaction `uid`'s lock in a transaction left open until the block ends: an allocation
    for `uid` that begins meanwhile waits for it inside its own statement, begun earlier."""
    async with db.acquire() as conn, conn.transaction():
        scope_id = await conn.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
        await conn.execute(query("lock_interaction_id"), scope_id, uid)
        yield


async def until_waiting_for_a_lock(db) -> None:
    """Until a session of this test's database waits for a lock (the server may be shared)."""
    async with asyncio.timeout(30):
        while not await db.fetchval(
            """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE NOT l.granted AND a.datname = current_database()"""):
            await asyncio.sleep(0.01)


async def test_an_allocation_begun_before_a_forced_delete_of_its_number_starts_after_it(
    client, db, tenant: Tenant
) -> None:
    """The allocation's transaction began before the number's previous holder was ended by a
    forced delete (and the number created again); the allocation itself starts after that end,
    so that history has one holder at any moment."""
    [phone] = await add_phones(client, tenant, 1)
    assert (await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)).text == phone
    async with interaction_held(db, tenant, "u2"):
        allocating = asyncio.create_task(client.post(ALLOCATE, json={"id": "u2"}, headers=tenant.web))
        await until_waiting_for_a_lock(db)
        deleted = await client.delete(f"{DNIS}/{phone}", params={"force": "true"}, headers=tenant.dnis_user)
        assert deleted.status_code == 200
        assert (await client.post(DNIS, json={"phoneNumber": phone}, headers=tenant.dnis_user)).status_code == 200
    assert (await allocating).text == phone
    history = (await client.get(f"{DNIS}/{phone}/history", headers=tenant.dnis_user)).json()["allocations"]
    second, first = history
    assert first["endedAt"] <= second["allocatedAt"]
    at = await client.get(f"{DNIS}/{phone}/history", params={"at": second["allocatedAt"]}, headers=tenant.dnis_user)
    assert [h["uniqueId"] for h in at.json()["allocations"]] == ["u2"]


async def test_a_code_allocation_begun_before_a_free_of_that_code_starts_after_it(
    client, db, tenant: Tenant, monkeypatch
) -> None:
    monkeypatch.setattr(dtmf.secrets, "choice", lambda digits: "7")  # every draw is 777777
    code = (await client.post(f"{DNIS}/allocate/dtmf", json={"id": "u1"}, headers=tenant.web)).text
    async with interaction_held(db, tenant, "u2"):
        allocating = asyncio.create_task(client.post(f"{DNIS}/allocate/dtmf", json={"id": "u2"}, headers=tenant.web))
        await until_waiting_for_a_lock(db)
        freed = await client.post(f"{DNIS}/allocate/free/dtmf/{code}", headers=tenant.dnis_user)
        assert freed.status_code == 200
    assert (await allocating).text == code
    first_ended, second_started = await db.fetchrow(
        """SELECT max(ended_at) FILTER (WHERE unique_id = 'u1'), max(allocated_at) FILTER (WHERE unique_id = 'u2')
           FROM allocations WHERE dtmf_code = $1""", code)
    assert first_ended <= second_started


async def test_the_database_refuses_a_second_holder_of_a_phone(client, db, tenant: Tenant) -> None:
    """The last line of defence is the schema, not application code: a phone has one state row,
    whose holder is one interaction."""
    [phone] = await add_phones(client, tenant, 1)
    await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(
            """INSERT INTO phone_states
                   (phone_id, scope_id, group_name, enabled, held, unique_id, allocated_at, expires_at)
               SELECT phone_id, scope_id, group_name, enabled, true, 'intruder', now(), now() + interval '1 minute'
               FROM phones WHERE phone_number = $1""",
            phone,
        )


async def test_the_database_refuses_two_live_phones_of_one_interaction_in_one_group(
    client, db, tenant: Tenant
) -> None:
    phones = await add_phones(client, tenant, 2)
    await client.post(ALLOCATE, json={"id": "u1"}, headers=tenant.web)
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(
            """UPDATE phone_states SET held = true, unique_id = 'u1', allocated_at = now(),
                      expires_at = now() + interval '1 minute'
               WHERE NOT held AND phone_id IN (SELECT phone_id FROM phones WHERE phone_number = ANY ($1))""",
            phones,
        )


@pytest.mark.parametrize("only_for", [None, "late"], ids=["free", "free for the new holder"])
async def test_free_racing_an_allocation_in_progress_leaves_it_whole(
    client, db, tenant: Tenant, only_for: str | None
) -> None:
    # The freeing statement reads the phone without waiting: an allocation not yet committed is
    # not there for it, so the free comes first and ends nothing; the allocation then stands whole.
    [phone] = await add_phones(client, tenant, 1)
    scope_id = await db.fetchval("SELECT scope_id FROM scopes WHERE tenant_id = $1", tenant.tenant_id)
    async with db.acquire() as conn:
        allocating = conn.transaction()
        await allocating.start()
        [claimed] = await conn.fetch(query("allocate_phone"), scope_id, "late", None, 0.0, 300.0)
        assert (claimed["outcome"], claimed["phone_number"]) == ("new", phone)
        params = {} if only_for is None else {"uniqueId": only_for}
        freed = await client.post(f"{DNIS}/allocate/free/{phone}", params=params, headers=tenant.dnis_user)
        assert freed.status_code == 200
        await allocating.commit()
    assert (await client.get(f"{DNIS}/allocate/get/{phone}", headers=tenant.dnis)).text == "late"
    assert await db.fetchval("SELECT count(*) FROM phone_history") == 0
