-- name: lock_interaction_id
-- The advisory lock allocate_phone() takes (0009), for a transaction that locks the interaction's
-- row before it allocates, or ends the interaction's allocations.
SELECT pg_advisory_xact_lock($1, hashtext($2))

-- name: touch_interaction
-- Creates the interaction's row (to keep what the caller sends with it), or marks it active.
INSERT INTO interactions (scope_id, unique_id) VALUES ($1, $2)
ON CONFLICT (scope_id, unique_id) DO UPDATE SET updated_at = now(), state = 'active'
RETURNING user_data

-- name: end_allocation
-- A DTMF code's allocation (the function is in migrations 0006 and 0009).
SELECT kind, group_name, end_reason, held_seconds FROM end_allocation($1, $2)

-- name: end_phone_allocation
-- The caller read the phone's holder (phone_id $1, allocation start $2); no row: it changed hands.
SELECT scope_id, phone_number, unique_id, kind, group_name, end_reason, held_seconds
FROM end_phone_allocation($1, $2, $3)

-- name: end_phones_of_interaction
-- Ends every phone allocation of interaction $2 (live or expired), with reason $3.
SELECT e.kind, e.group_name, e.end_reason, e.held_seconds
FROM phone_states s CROSS JOIN LATERAL end_phone_allocation(s.phone_id, s.allocated_at, $3) e
WHERE s.scope_id = $1 AND s.unique_id = $2 AND s.held

-- name: end_codes_of_interaction
-- Ends every open DTMF code allocation of interaction $2, with reason $3.
SELECT e.kind, e.group_name, e.end_reason, e.held_seconds
FROM allocations a CROSS JOIN LATERAL end_allocation(a.allocation_id, $3) e
WHERE a.scope_id = $1 AND a.unique_id = $2 AND a.ended_at IS NULL
