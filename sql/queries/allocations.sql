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

-- name: lock_phone
SELECT phone_id FROM phones WHERE phone_id = $1 FOR UPDATE

-- name: pick_free_phone
SELECT phone_id, phone_number, dn_id, group_name, NULL::bigint AS allocation_id
FROM phones
WHERE scope_id = $1 AND enabled AND allocation_id IS NULL
  AND released_at <= now() - make_interval(secs => $2)
ORDER BY released_at
LIMIT 1
FOR UPDATE SKIP LOCKED

-- name: pick_free_phone_in_group
SELECT phone_id, phone_number, dn_id, group_name, NULL::bigint AS allocation_id
FROM phones
WHERE scope_id = $1 AND group_name = $3 AND enabled AND allocation_id IS NULL
  AND released_at <= now() - make_interval(secs => $2)
ORDER BY released_at
LIMIT 1
FOR UPDATE SKIP LOCKED

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
SELECT phone_id, phone_number, dn_id, group_name, allocation_id
FROM phones
WHERE scope_id = $1 AND allocation_id IS NOT NULL AND enabled AND group_name = $3
  AND expires_at <= now() - make_interval(secs => $2)
ORDER BY expires_at
LIMIT 1
FOR UPDATE SKIP LOCKED

-- name: insert_phone_allocation
WITH created AS (
    INSERT INTO allocations (scope_id, kind, phone_id, phone_number, group_name, unique_id, expires_at)
    VALUES ($1, 'phone', $2, $3, $4, $5, now() + make_interval(secs => $6))
    RETURNING allocation_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET allocation_id = c.allocation_id, expires_at = c.expires_at
    FROM created c WHERE p.phone_id = $2
)
SELECT allocation_id, allocated_at, expires_at FROM created

-- name: insert_code_allocation
INSERT INTO allocations (scope_id, kind, dtmf_code, unique_id, expires_at)
VALUES ($1, 'dtmf', $2, $3, now() + make_interval(secs => $4))
RETURNING allocation_id, allocated_at, expires_at

-- name: end_expired_code
UPDATE allocations SET ended_at = expires_at, end_reason = 'expired'
WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2 AND ended_at IS NULL AND expires_at <= now()

-- name: end_allocation
-- The caller holds the phone's row lock, if there is a phone. An allocation already past its
-- expiry ends as 'expired' at its expiry time whoever ends it, so the history stays exact.
-- clock_timestamp(), not now(): this transaction may have begun before the allocation did.
WITH ended AS (
    UPDATE allocations
    SET ended_at = least(c.now, expires_at),
        end_reason = CASE WHEN expires_at <= c.now THEN 'expired' ELSE $2 END
    FROM (SELECT clock_timestamp() AS now) c
    WHERE allocation_id = $1 AND ended_at IS NULL
    RETURNING allocation_id, phone_id, kind, group_name, allocated_at, ended_at, end_reason
), released AS (
    UPDATE phones p SET allocation_id = NULL, expires_at = NULL, released_at = e.ended_at
    FROM ended e WHERE p.phone_id = e.phone_id AND p.allocation_id = e.allocation_id
)
SELECT kind, group_name, end_reason, extract(epoch FROM ended_at - allocated_at)::float8 AS held_seconds
FROM ended

-- name: extend_allocation
WITH extended AS (
    UPDATE allocations SET expires_at = now() + make_interval(secs => $2)
    WHERE allocation_id = $1
    RETURNING allocation_id, allocated_at, expires_at
), held AS (
    UPDATE phones p SET expires_at = x.expires_at FROM extended x WHERE p.allocation_id = x.allocation_id
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

-- name: open_code_allocation
SELECT allocation_id, unique_id, allocated_at, expires_at, expires_at > now() AS live
FROM allocations
WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2 AND ended_at IS NULL
FOR UPDATE

-- name: code_was_allocated
SELECT EXISTS (SELECT 1 FROM allocations WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2)

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
