-- name: create_interaction
INSERT INTO interactions (scope_id, unique_id, user_data) VALUES ($1, $2, $3)
ON CONFLICT (scope_id, unique_id) DO NOTHING
RETURNING unique_id

-- name: lock_interaction
SELECT unique_id, state, user_data FROM interactions WHERE scope_id = $1 AND unique_id = $2 FOR UPDATE

-- name: save_user_data
-- A historySearchId or callReturnNumber that changes is stamped now, so that it wins lookups.
UPDATE interactions
SET user_data = $3,
    history_search_set_at = CASE WHEN history_search_id IS DISTINCT FROM $4 AND $4 IS NOT NULL THEN now()
                                 ELSE history_search_set_at END,
    history_search_id = $4,
    call_return_set_at = CASE WHEN call_return_number IS DISTINCT FROM $5 AND $5 IS NOT NULL THEN now()
                              ELSE call_return_set_at END,
    call_return_number = $5,
    updated_at = now()
WHERE scope_id = $1 AND unique_id = $2

-- name: end_interaction
UPDATE interactions SET state = $3, updated_at = now() WHERE scope_id = $1 AND unique_id = $2

-- name: interaction_view
SELECT i.unique_id, i.state, i.user_data, i.created_at, i.updated_at,
       (SELECT a.phone_number FROM allocations a
         WHERE a.scope_id = i.scope_id AND a.unique_id = i.unique_id AND a.kind = 'phone'
           AND a.ended_at IS NULL AND a.expires_at > now()
         ORDER BY a.allocated_at DESC LIMIT 1) AS phone_number,
       (SELECT a.dtmf_code FROM allocations a
         WHERE a.scope_id = i.scope_id AND a.unique_id = i.unique_id AND a.kind = 'dtmf'
           AND a.ended_at IS NULL AND a.expires_at > now()
         LIMIT 1) AS dtmf
FROM interactions i
WHERE i.scope_id = $1 AND i.unique_id = $2

-- name: list_active_interactions
SELECT unique_id, state, user_data, created_at, updated_at FROM interactions
WHERE scope_id = $1 AND state = 'active'
  AND ($2::timestamptz IS NULL OR (created_at, unique_id) < ($2, $3))
ORDER BY created_at DESC, unique_id DESC
LIMIT $4

-- name: lock_phones_of_interaction
-- Lock order: the caller holds the interaction row; then phones; then allocations.
SELECT phone_id FROM phones
WHERE allocation_id IN (SELECT allocation_id FROM allocations
                        WHERE scope_id = $1 AND unique_id = $2 AND kind = 'phone' AND ended_at IS NULL)
ORDER BY phone_id
FOR UPDATE

-- name: open_allocations_of_any_kind
SELECT allocation_id FROM allocations WHERE scope_id = $1 AND unique_id = $2 AND ended_at IS NULL
