-- Phones lent to interactions. A phone's holder lives in its phone_states row; an allocation is
-- written to phone_history once, when it ends (migration 0009 has the functions and why).
-- Lock order, everywhere: the interaction id (advisory lock), its row, then phone rows.

-- name: allocate_phone
-- $1 scope, $2 interaction id, $3 group or NULL, $4 quarantine seconds, $5 timeout seconds.
SELECT outcome, phone_number, dn_id, group_name, allocated_at, expires_at, end_reason, held_seconds
FROM allocate_phone($1, $2, $3, $4, $5)

-- name: free_phone
-- Ends the allocation of the phone ($2 canonical number or NULL, $3 dnId, as phone_with_holder),
-- in one statement, unless $4 names an interaction and another one holds it live. One row if the
-- phone exists: what was read, and what was ended (nothing: NULL end_reason). The holder is read
-- with this statement's snapshot; when it changed hands since, nothing is ended although the row
-- read says held, and the caller runs the statement again.
WITH target AS (
    SELECT s.phone_id, p.phone_number, s.held, s.unique_id, s.allocated_at,
           s.held AND s.expires_at > now() AS live
    FROM phones p JOIN phone_states s ON s.phone_id = p.phone_id
    WHERE p.scope_id = $1 AND (p.phone_number = $2 OR p.dn_id = $3)
    ORDER BY p.phone_number = $2 DESC NULLS LAST
    LIMIT 1
)
SELECT t.phone_number, t.held, t.unique_id, t.live,
       t.held AND ($4::text IS NULL OR NOT t.live OR t.unique_id = $4) AS permitted,
       e.kind, e.group_name, e.end_reason, e.held_seconds
FROM target t
LEFT JOIN LATERAL end_phone_allocation(
    CASE WHEN t.held AND ($4::text IS NULL OR NOT t.live OR t.unique_id = $4) THEN t.phone_id END,
    t.allocated_at, 'freed') e ON true

-- name: extend_allocation
-- The new expiry counts from the clock. Nothing when the allocation that began at $2 is no longer
-- the phone's, or expired meanwhile (it stays expired). The caller holds the phone's row lock
-- (phone_with_holder_for_update), so the clock is read after any wait for the row.
UPDATE phone_states s SET expires_at = clock_timestamp() + make_interval(secs => $3)
WHERE s.phone_id = $1 AND s.held AND s.allocated_at = $2 AND s.expires_at > clock_timestamp()
RETURNING s.allocated_at, s.expires_at

-- name: phone_with_holder
-- {phone} in a URL is a phoneNumber ($2, canonical, may be NULL) or a dnId ($3).
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, s.held,
       CASE WHEN s.held THEN s.unique_id END AS unique_id,
       CASE WHEN s.held THEN s.allocated_at END AS allocated_at,
       CASE WHEN s.held THEN s.expires_at END AS expires_at,
       s.held AND s.expires_at > now() AS live
FROM phones p JOIN phone_states s ON s.phone_id = p.phone_id
WHERE p.scope_id = $1 AND (p.phone_number = $2 OR p.dn_id = $3)
ORDER BY p.phone_number = $2 DESC NULLS LAST
LIMIT 1

-- name: phone_with_holder_for_update
-- phone_with_holder, locking the phone's state row (the two differ in that clause only).
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, s.held,
       CASE WHEN s.held THEN s.unique_id END AS unique_id,
       CASE WHEN s.held THEN s.allocated_at END AS allocated_at,
       CASE WHEN s.held THEN s.expires_at END AS expires_at,
       s.held AND s.expires_at > now() AS live
FROM phones p JOIN phone_states s ON s.phone_id = p.phone_id
WHERE p.scope_id = $1 AND (p.phone_number = $2 OR p.dn_id = $3)
ORDER BY p.phone_number = $2 DESC NULLS LAST
LIMIT 1
FOR UPDATE OF s

-- name: phone_history_at
-- Who held number $2 at $3: from the history, and the phone's holder now (allocated_at, expires_at).
SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason FROM (
    SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason
    FROM phone_history WHERE scope_id = $1 AND phone_number = $2
    UNION ALL
    SELECT s.unique_id, s.group_name, s.allocated_at, s.expires_at, NULL, NULL
    FROM phones p JOIN phone_states s ON s.phone_id = p.phone_id
    WHERE p.scope_id = $1 AND p.phone_number = $2 AND s.held
) allocations_of_number
WHERE allocated_at <= $3 AND $3 < coalesce(least(ended_at, expires_at), expires_at)
ORDER BY allocated_at DESC

-- name: phone_history_recent
SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason FROM (
    SELECT unique_id, group_name, allocated_at, expires_at, ended_at, end_reason
    FROM phone_history WHERE scope_id = $1 AND phone_number = $2
    UNION ALL
    SELECT s.unique_id, s.group_name, s.allocated_at, s.expires_at, NULL, NULL
    FROM phones p JOIN phone_states s ON s.phone_id = p.phone_id
    WHERE p.scope_id = $1 AND p.phone_number = $2 AND s.held
) allocations_of_number
ORDER BY allocated_at DESC
LIMIT $3
