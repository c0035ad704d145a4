-- name: insert_code_allocation
INSERT INTO allocations (scope_id, kind, dtmf_code, unique_id, expires_at)
VALUES ($1, 'dtmf', $2, $3, now() + make_interval(secs => $4))
RETURNING allocation_id, allocated_at, expires_at

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
