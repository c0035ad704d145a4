-- name: insert_code_allocation
-- Takes the code: the unique index of open codes makes it wait for a transaction ending the code's
-- previous allocation, and fail if that one stays open. Its times are set by start_code_allocation.
INSERT INTO allocations (scope_id, kind, dtmf_code, unique_id, allocated_at, expires_at)
VALUES ($1, 'dtmf', $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
RETURNING allocation_id

-- name: start_code_allocation
-- The allocation starts on the clock once the code is taken, after the end of its previous
-- allocation (stamped on the clock too, and committed), and expires from that instant.
UPDATE allocations SET allocated_at = c.now, expires_at = c.now + make_interval(secs => $2)
FROM (SELECT clock_timestamp() AS now) c
WHERE allocation_id = $1
RETURNING allocated_at, expires_at

-- name: end_expired_code
UPDATE allocations SET ended_at = expires_at, end_reason = 'expired'
WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2 AND ended_at IS NULL AND expires_at <= now()

-- name: open_code_allocation
SELECT allocation_id, unique_id, allocated_at, expires_at, expires_at > now() AS live
FROM allocations
WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2 AND ended_at IS NULL
FOR UPDATE

-- name: code_was_allocated
SELECT EXISTS (SELECT 1 FROM allocations WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2)

-- name: open_code_allocations_of_interaction
SELECT allocation_id, dtmf_code, unique_id, allocated_at, expires_at, expires_at <= now() AS expired
FROM allocations
WHERE scope_id = $1 AND unique_id = $2 AND ended_at IS NULL
ORDER BY allocated_at DESC
