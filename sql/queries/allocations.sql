-- Lock order, everywhere: interaction row, then phone row, then allocation row.

-- name: touch_interaction
-- Creates the interaction on its first allocation; the row lock it takes serialises the
-- allocations of one interaction id, so concurrent requests for one id take one phone.
INSERT INTO interactions (scope_id, unique_id) VALUES ($1, $2)
ON CONFLICT (scope_id, unique_id) DO UPDATE SET updated_at = now(), state = 'active'
RETURNING user_data

-- name: open_allocations_of_interaction
SELECT a.allocation_id, a.kind, a.phone_id, a.phone_number, p.dn_id, a.dtmf_code, a.group_name,
       a.unique_id, a.allocated_at, a.expires_at, a.expires_at <= now() AS expired
FROM allocations a
LEFT JOIN phones p ON p.phone_id = a.phone_id
WHERE a.scope_id = $1 AND a.unique_id = $2 AND a.kind = $3 AND a.ended_at IS NULL
ORDER BY a.allocated_at DESC

-- name: lock_phone_row
SELECT phone_id FROM phones WHERE phone_id = $1 FOR UPDATE

-- name: claim_free_phone
-- Allocates the least recently released free phone, in one statement. With $5 false it is the
-- whole allocation of an interaction seen for the first time: it creates the interaction row,
-- and keeps the phone only if it did (an existing interaction may hold allocations, which the
-- allocation transaction deals with; a concurrent first request for the same id waits on this
-- insert, then finds the row and goes that way too). No free phone: nothing is written. With $5
-- true the caller's transaction already holds the interaction's row lock.
-- Lock order: unlike everywhere else, the phone is locked before the interaction row is
-- created. No deadlock follows: a free phone's lock is only ever taken with SKIP LOCKED (or by
-- an operator's edit, which takes no interaction lock), so nothing holding an interaction waits
-- for it.
-- The allocation starts on the clock once the phone is locked (stamped: a CTE with a volatile
-- function is evaluated once per row, after the row it reads), and expires from that instant: the
-- transaction's start, now(), may predate the end of the phone's previous allocation, which was
-- stamped on the clock while that transaction held the lock.
-- $1 scope, $2 quarantine seconds, $3 interaction id, $4 timeout seconds, $5 interaction locked.
WITH picked AS (
    SELECT phone_id, phone_number, dn_id, group_name
    FROM phones
    WHERE scope_id = $1 AND enabled AND allocation_id IS NULL
      AND released_at <= now() - make_interval(secs => $2)
    ORDER BY released_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), stamped AS (
    SELECT phone_id, phone_number, group_name, clock_timestamp() AS now FROM picked
), created AS (
    INSERT INTO interactions (scope_id, unique_id) SELECT $1, $3 FROM picked
    ON CONFLICT DO NOTHING
    RETURNING unique_id
), claimed AS (
    INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id, allocated_at, expires_at)
    SELECT $1, 'phone', phone_id, phone_number, group_name, $3, now, now + make_interval(secs => $4)
    FROM stamped
    WHERE $5 OR EXISTS (SELECT FROM created)
    RETURNING allocation_id, phone_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET allocation_id = c.allocation_id, expires_at = c.expires_at
    FROM claimed c WHERE p.phone_id = c.phone_id
)
SELECT p.phone_number, p.dn_id, p.group_name, c.allocated_at, c.expires_at
FROM (SELECT) one
LEFT JOIN claimed c ON true
LEFT JOIN picked p ON p.phone_id = c.phone_id

-- name: claim_free_phone_in_group
-- claim_free_phone within group $6 (its own statement, so that its plan uses the group index).
WITH picked AS (
    SELECT phone_id, phone_number, dn_id, group_name
    FROM phones
    WHERE scope_id = $1 AND group_name = $6 AND enabled AND allocation_id IS NULL
      AND released_at <= now() - make_interval(secs => $2)
    ORDER BY released_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), stamped AS (
    SELECT phone_id, phone_number, group_name, clock_timestamp() AS now FROM picked
), created AS (
    INSERT INTO interactions (scope_id, unique_id) SELECT $1, $3 FROM picked
    ON CONFLICT DO NOTHING
    RETURNING unique_id
), claimed AS (
    INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id, allocated_at, expires_at)
    SELECT $1, 'phone', phone_id, phone_number, group_name, $3, now, now + make_interval(secs => $4)
    FROM stamped
    WHERE $5 OR EXISTS (SELECT FROM created)
    RETURNING allocation_id, phone_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET allocation_id = c.allocation_id, expires_at = c.expires_at
    FROM claimed c WHERE p.phone_id = c.phone_id
)
SELECT p.phone_number, p.dn_id, p.group_name, c.allocated_at, c.expires_at
FROM (SELECT) one
LEFT JOIN claimed c ON true
LEFT JOIN picked p ON p.phone_id = c.phone_id

-- name: pick_expired_phone
-- No phone is free: take over the allocation that expired longest ago (the release job may not
-- have run yet; expiry is exact regardless).
SELECT phone_id, phone_number, dn_id, group_name, allocation_id
FROM phones
WHERE scope_id = $1 AND allocation_id IS NOT NULL AND enabled
  AND expires_at <= now() - make_interval(secs => $2)
ORDER BY expires_at
LIMIT 1
FOR UPDATE SKIP LOCKED

-- name: pick_expired_phone_in_group
-- pick_expired_phone within group $3 (its own statement, so that its plan uses the group).
SELECT phone_id, phone_number, dn_id, group_name, allocation_id
FROM phones
WHERE scope_id = $1 AND allocation_id IS NOT NULL AND enabled AND group_name = $3
  AND expires_at <= now() - make_interval(secs => $2)
ORDER BY expires_at
LIMIT 1
FOR UPDATE SKIP LOCKED

-- name: insert_phone_allocation
-- The caller holds the phone's lock; the allocation starts on the clock, as in claim_free_phone.
WITH created AS (
    INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id, allocated_at, expires_at)
    SELECT $1, 'phone', $2, $3, $4, $5, c.now, c.now + make_interval(secs => $6)
    FROM (SELECT clock_timestamp() AS now) c
    RETURNING allocation_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET allocation_id = c.allocation_id, expires_at = c.expires_at
    FROM created c WHERE p.phone_id = $2
)
SELECT allocation_id, allocated_at, expires_at FROM created

-- name: free_phone
-- Locks the phone ($2 canonical number or NULL, $3 dnId, as phone_with_holder) and ends its
-- allocation, in one statement, unless $4 names an interaction and another one holds it live.
-- One row if the phone exists: what was found, and what was ended (nothing: NULL kind).
-- The holder is read with this statement's snapshot: a holder that committed after the statement
-- began reads as NULL although allocation_id is set, and the caller runs the statement again.
WITH target AS (
    SELECT phone_id, phone_number, allocation_id, coalesce(expires_at > now(), false) AS live
    FROM phones
    WHERE scope_id = $1 AND (phone_number = $2 OR dn_id = $3)
    ORDER BY phone_number = $2 DESC NULLS LAST
    LIMIT 1
    FOR UPDATE
), found AS (
    SELECT t.*, a.unique_id
    FROM target t LEFT JOIN allocations a ON a.allocation_id = t.allocation_id
)
SELECT f.phone_number, f.allocation_id, f.unique_id, f.live, e.kind, e.group_name, e.end_reason, e.held_seconds
FROM found f
LEFT JOIN LATERAL end_allocation(
    CASE WHEN f.unique_id IS NOT NULL AND ($4::text IS NULL OR NOT f.live OR f.unique_id = $4)
         THEN f.allocation_id END, 'freed') e ON true

-- name: extend_allocation
-- The caller holds the phone's lock. The new expiry counts from the clock, and an allocation that
-- expired meanwhile (while the caller waited for the lock) stays expired: no row.
WITH extended AS (
    UPDATE allocations SET expires_at = c.now + make_interval(secs => $2)
    FROM (SELECT clock_timestamp() AS now) c
    WHERE allocation_id = $1 AND expires_at > c.now
    RETURNING allocation_id, phone_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET expires_at = x.expires_at FROM extended x WHERE p.phone_id = x.phone_id
)
SELECT allocated_at, expires_at FROM extended

-- name: phone_with_holder
-- {phone} in a URL is a phoneNumber ($2, canonical, may be NULL) or a dnId ($3).
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, p.allocation_id,
       a.unique_id, a.allocated_at, a.expires_at, coalesce(p.expires_at > now(), false) AS live
FROM phones p
LEFT JOIN allocations a ON a.allocation_id = p.allocation_id
WHERE p.scope_id = $1 AND (p.phone_number = $2 OR p.dn_id = $3)
ORDER BY p.phone_number = $2 DESC NULLS LAST
LIMIT 1

-- name: phone_with_holder_for_update
-- phone_with_holder, locking the phone row (the two differ in that clause only).
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, p.allocation_id,
       a.unique_id, a.allocated_at, a.expires_at, coalesce(p.expires_at > now(), false) AS live
FROM phones p
LEFT JOIN allocations a ON a.allocation_id = p.allocation_id
WHERE p.scope_id = $1 AND (p.phone_number = $2 OR p.dn_id = $3)
ORDER BY p.phone_number = $2 DESC NULLS LAST
LIMIT 1
FOR UPDATE OF p

-- name: phone_history_at
SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason
FROM allocations
WHERE scope_id = $1 AND kind = 'phone' AND phone_number = $2
  AND allocated_at <= $3 AND $3 < coalesce(least(ended_at, expires_at), expires_at)
ORDER BY allocated_at DESC

-- name: phone_history_recent
SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason
FROM allocations
WHERE scope_id = $1 AND kind = 'phone' AND phone_number = $2
ORDER BY allocated_at DESC
LIMIT $3

-- name: count_refusal
-- One allocation request of scope $1 refused for want of a phone in group $2 ('' for any group),
-- counted per clock hour (UTC) for pool sizing (sizing.sql), in this session's slot.
INSERT INTO pool_traffic_hours AS t (scope_id, group_name, hour, slot, refusals)
VALUES ($1, $2, date_trunc('hour', now(), 'UTC'), pg_backend_pid() % 8, 1)
ON CONFLICT (scope_id, group_name, hour, slot) DO UPDATE SET refusals = t.refusals + 1
