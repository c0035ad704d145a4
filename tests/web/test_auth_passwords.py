"""Wrong passwords cannot stall the service nor be guessed at will: the KDF runs on a small bounded
thread pool, never on the event loop; repeated failures for a (tenant, user) are throttled across
replicas (429 with Retry-After, no KDF run); unknown users cost and are throttled like known ones.

How many times the KDF ran is read from /metrics (dnis_password_kdf_runs_total), never timed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnis_service.domain import password_throttle, passwords
from dnis_service.domain.password_throttle import MAX_FAILURES, WINDOW_SECONDS, Attempt, user_digest
from dnis_service.domain.passwords import KDF_POOL, KDF_WORKERS
from tests.conftest import ADMIN_TOKEN, DNIS, DNIS_SOAP, SOAP_ENV, Tenant, b64, post_soap, serve_in_process
from tests.test_soak import counter_sum
from tests.web.test_auth import assert_unauthorized

KDF_RUNS = "dnis_password_kdf_runs_total"
REFUSED = "dnis_password_checks_refused_total"


def with_password(tenant: Tenant, password: str, user: str | None = None) -> dict[str, str]:
    return tenant.headers("dnis") | {"User-Id": b64(user or tenant.user), "User-Password": b64(password)}


async def counter(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    return counter_sum((await client.get("/metrics")).text, name, **labels)


async def fail(client: httpx.AsyncClient, tenant: Tenant, times: int, user: str | None = None) -> None:
    for n in range(times):
        assert_unauthorized(await client.get(DNIS, headers=with_password(tenant, f"guess-{n}", user)))


async def age_attempts(db: asyncpg.Pool, seconds: float) -> None:
    """Move every recorded attempt `seconds` into the past, as if that much time had gone by."""
    await db.execute("UPDATE password_attempts SET attempted_at = "
                     "ARRAY(SELECT a - make_interval(secs => $1) FROM unnest(attempted_at) a ORDER BY a)", seconds)


def assert_throttled(response: httpx.Response) -> int:
    """The 429: the 401's JSON shape with its own message, and Retry-After; returns the latter."""
    assert response.status_code == 429, response.text
    assert response.json() == {"code": "0x7000000",
                               "message": "Too many failed password attempts for this user; try again later",
                               "moreInfoUrl": response.json()["moreInfoUrl"]}
    assert response.headers["Unauthenticated-Reason"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    return retry_after


async def test_a_verified_password_is_not_hashed_again(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    for _ in range(3):
        assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + 1


async def test_a_wrong_password_is_never_remembered(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    for _ in range(2):
        assert_unauthorized(await client.get(DNIS, headers=with_password(tenant, "the same guess")))
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + 2


async def test_a_changed_password_is_verified_afresh(client, tenant: Tenant) -> None:
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    users = f"/admin/v1/tenants/{tenant.tenant_id}/users"
    assert (await client.delete(f"{users}/{tenant.user}", headers=admin)).status_code == 204
    created = await client.post(users, json={"userId": tenant.user, "password": "a new password"}, headers=admin)
    assert created.status_code == 201
    assert_unauthorized(await client.get(DNIS, headers=tenant.dnis_user))
    assert (await client.get(DNIS, headers=with_password(tenant, "a new password"))).status_code == 200


async def test_the_failure_after_the_limit_is_429_and_runs_no_kdf(client, tenant: Tenant) -> None:
    await fail(client, tenant, MAX_FAILURES)
    runs = await counter(client, KDF_RUNS, purpose="verify")
    assert_throttled(await client.get(DNIS, headers=with_password(tenant, "one-more-guess")))
    assert await counter(client, KDF_RUNS, purpose="verify") == runs
    assert await counter(client, REFUSED, reason="throttled") >= 1


async def test_every_failure_up_to_the_limit_runs_the_kdf(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    await fail(client, tenant, MAX_FAILURES)
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + MAX_FAILURES


async def test_attempts_pass_again_once_the_window_has_passed(client, db, tenant: Tenant) -> None:
    await fail(client, tenant, MAX_FAILURES)
    assert_throttled(await client.get(DNIS, headers=tenant.dnis_user))
    await age_attempts(db, WINDOW_SECONDS)
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200


async def test_retry_after_is_the_time_until_the_oldest_failure_leaves_the_window(client, db, tenant: Tenant) -> None:
    await fail(client, tenant, 1)
    await age_attempts(db, WINDOW_SECONDS - 10)
    await fail(client, tenant, MAX_FAILURES - 1)
    assert assert_throttled(await client.get(DNIS, headers=with_password(tenant, "guess"))) <= 10


async def test_one_slot_frees_when_the_oldest_failure_leaves_the_window(client, db, tenant: Tenant) -> None:
    await fail(client, tenant, 1)
    await age_attempts(db, WINDOW_SECONDS / 2)
    await fail(client, tenant, MAX_FAILURES - 1)
    await age_attempts(db, WINDOW_SECONDS / 2)
    await fail(client, tenant, 1)  # the oldest has left: one more attempt, a failure again
    assert_throttled(await client.get(DNIS, headers=with_password(tenant, "guess")))


async def test_replicas_on_one_database_share_the_throttle(settings, database_url, tenant: Tenant) -> None:
    async with serve_in_process(settings, database_url) as one, serve_in_process(settings, database_url) as two:
        await fail(one, tenant, MAX_FAILURES - 2)
        await fail(two, tenant, 2)
        assert_throttled(await one.get(DNIS, headers=with_password(tenant, "guess")))
        assert_throttled(await two.get(DNIS, headers=with_password(tenant, "guess")))


async def test_a_correct_password_this_replica_verified_passes_during_a_throttle(client, tenant: Tenant) -> None:
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200
    await fail(client, tenant, MAX_FAILURES)
    runs = await counter(client, KDF_RUNS, purpose="verify")
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200
    assert await counter(client, KDF_RUNS, purpose="verify") == runs


async def test_a_correct_password_not_verified_lately_is_throttled_like_a_guess(client, tenant: Tenant) -> None:
    await fail(client, tenant, MAX_FAILURES)
    assert_throttled(await client.get(DNIS, headers=tenant.dnis_user))


async def test_a_success_neither_counts_nor_wipes_out_earlier_failures(client, tenant: Tenant) -> None:
    await fail(client, tenant, MAX_FAILURES - 1)
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200
    await fail(client, tenant, 1)
    assert_throttled(await client.get(DNIS, headers=with_password(tenant, "guess")))


async def test_the_throttle_is_per_user(client, db, tenant: Tenant) -> None:
    from dnis_service.domain import tenants

    await tenants.create_user(db, tenant.tenant_id, "second", "second password")
    await fail(client, tenant, MAX_FAILURES)
    assert (await client.get(DNIS, headers=with_password(tenant, "second password", "second"))).status_code == 200


async def test_an_unknown_user_runs_the_kdf_and_is_throttled_alike(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    await fail(client, tenant, MAX_FAILURES, user="nobody")
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + MAX_FAILURES
    assert_throttled(await client.get(DNIS, headers=with_password(tenant, "guess", "nobody")))
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + MAX_FAILURES


async def test_concurrent_guesses_for_one_user_never_exceed_the_limit(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    answers = await asyncio.gather(*(client.get(DNIS, headers=with_password(tenant, f"guess-{n}"))
                                     for n in range(16)))
    assert sorted(a.status_code for a in answers) == [401] * MAX_FAILURES + [429] * (16 - MAX_FAILURES)
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + MAX_FAILURES


async def test_concurrent_requests_with_the_same_password_share_one_kdf_run(client, tenant: Tenant) -> None:
    runs = await counter(client, KDF_RUNS, purpose="verify")
    answers = await asyncio.gather(*(client.get(DNIS, headers=tenant.dnis_user) for _ in range(16)))
    assert {a.status_code for a in answers} == {200}
    assert await counter(client, KDF_RUNS, purpose="verify") == runs + 1


async def test_soap_answers_a_throttled_password_with_a_client_fault(client, tenant: Tenant) -> None:
    free = (f'<e:Envelope xmlns:e="{SOAP_ENV}" xmlns:d="http://com/jacada/interact/dnis/soap"><e:Body>'
            "<d:FreeDnisAllocationRequest><d:phone>155501</d:phone></d:FreeDnisAllocationRequest>"
            "</e:Body></e:Envelope>").encode()
    for n in range(MAX_FAILURES):
        answer = await post_soap(client, DNIS_SOAP, free, with_password(tenant, f"guess-{n}"))
        assert answer.fault == ("0x7000000", "Request is unauthorized, missing or wrong credentials")
    answer = await post_soap(client, DNIS_SOAP, free, with_password(tenant, "guess"))
    assert answer.fault == ((SOAP_ENV, "Client"), "Too many failed password attempts for this user; try again later")


async def test_old_attempts_are_forgotten(client, db, tenant: Tenant) -> None:
    await fail(client, tenant, 2)
    await fail(client, tenant, 1, user="nobody")
    await age_attempts(db, WINDOW_SECONDS)
    await fail(client, tenant, 1, user="recent")
    assert await password_throttle.forget_old_attempts(db) == 2
    assert await db.fetchval("SELECT count(*) FROM password_attempts") == 1


class GatedKdf:
    """Holds every KDF run at its start until opened; counts the runs that reached it."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def wrap(self, real: Callable[..., bytes]) -> Callable[..., bytes]:
        def gated(*args: object, **kwargs: object) -> bytes:
            with self._lock:
                self.started += 1
            # Bounded, so that a KDF run on the event loop (the defect) fails the test, not hangs it.
            self.opened.wait(timeout=10)
            return real(*args, **kwargs)
        return gated


@pytest.fixture
def gated_kdf(monkeypatch) -> Iterator[GatedKdf]:
    gate = GatedKdf()
    monkeypatch.setattr(passwords.hashlib, "scrypt", gate.wrap(passwords.hashlib.scrypt))
    try:
        yield gate
    finally:
        gate.opened.set()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def guesses(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[asyncio.Task[httpx.Response]]:
    """`count` wrong-password requests at once, each for a user id of its own (so none is throttled)."""
    return [asyncio.create_task(client.get(DNIS, headers=with_password(tenant, "guess", f"user-{n}")))
            for n in range(count)]


async def test_wrong_passwords_do_not_hold_up_other_requests(client, tenant: Tenant, gated_kdf: GatedKdf) -> None:
    pending = guesses(client, tenant, 16)
    await until(lambda: gated_kdf.started == KDF_WORKERS)  # every worker is hashing
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert not any(guess.done() for guess in pending)  # ... and no guess has been answered yet
    gated_kdf.opened.set()
    assert {(await guess).status_code for guess in pending} == {401}


async def test_a_full_kdf_pool_refuses_at_once(client, tenant: Tenant, gated_kdf: GatedKdf) -> None:
    pending = guesses(client, tenant, KDF_POOL.capacity)
    await until(lambda: KDF_POOL.taken == KDF_POOL.capacity)
    refused = await client.get(DNIS, headers=with_password(tenant, "guess", "one-more"))
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert refused.text == "Too many password checks in progress; try again shortly"
    assert not any(guess.done() for guess in pending)
    gated_kdf.opened.set()
    assert {(await guess).status_code for guess in pending} == {401}


async def test_a_refusal_for_a_full_pool_is_not_counted_as_a_failure(client, tenant: Tenant,
                                                                    gated_kdf: GatedKdf) -> None:
    pending = guesses(client, tenant, KDF_POOL.capacity)
    await until(lambda: KDF_POOL.taken == KDF_POOL.capacity)
    for _ in range(MAX_FAILURES + 1):
        assert (await client.get(DNIS, headers=with_password(tenant, "guess"))).status_code == 503
    gated_kdf.opened.set()
    await asyncio.gather(*pending)
    assert (await client.get(DNIS, headers=tenant.dnis_user)).status_code == 200


async def test_the_operator_api_hashes_on_the_pool_too(client, tenant: Tenant, gated_kdf: GatedKdf) -> None:
    pending = guesses(client, tenant, KDF_POOL.capacity)
    await until(lambda: KDF_POOL.taken == KDF_POOL.capacity)
    created = await client.post(f"/admin/v1/tenants/{tenant.tenant_id}/users",
                                json={"userId": "new", "password": "a new password"},
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (created.status_code, created.headers["Retry-After"]) == (503, "1")
    assert created.json() == {"message": "Too many password checks in progress; try again shortly"}
    gated_kdf.opened.set()
    await asyncio.gather(*pending)


# The window's rule, checked against a model: any sequence of attempts (each some milliseconds
# after the one before, its password right or wrong), as the database counts them.
steps = st.lists(st.tuples(st.integers(min_value=1, max_value=int(WINDOW_SECONDS * 1000 / 2)), st.booleans()),
                 max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
async def test_a_claim_is_refused_exactly_while_the_limit_of_failures_lies_in_the_window(
    db, tenant: Tenant, steps: list[tuple[int, bool]]
) -> None:
    await db.execute("DELETE FROM password_attempts")
    digest, now = user_digest(tenant.user), datetime.fromisoformat("2030-01-01T00:00:00+00:00")
    window = timedelta(seconds=WINDOW_SECONDS)
    failures: list[datetime] = []  # the model
    for milliseconds, right in steps:
        now += timedelta(milliseconds=milliseconds)
        recent = [t for t in failures if t > now - window]
        row = await db.fetchrow("SELECT * FROM claim_password_attempt($1, $2, $3, make_interval(secs => $4), $5)",
                                tenant.tenant_id, digest, MAX_FAILURES, WINDOW_SECONDS, now)
        if len(recent) >= MAX_FAILURES:
            assert row["claimed_at"] is None
            expected = (recent[-MAX_FAILURES] + window - now).total_seconds()
            assert row["retry_after_seconds"] == pytest.approx(expected, abs=1e-6)
            continue
        assert row["claimed_at"] == now
        if right:
            await password_throttle.withdraw(db, Attempt(tenant.tenant_id, digest, now))
        else:
            failures.append(now)
