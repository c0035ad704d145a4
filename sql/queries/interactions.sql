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

-- name: adopt_interaction
-- The row of an interaction known only by its live phones (0009), created as of its first one.
INSERT INTO interactions (scope_id, unique_id, created_at, updated_at)
SELECT $1, $2, min(allocated_at), min(allocated_at) FROM phone_states
WHERE scope_id = $1 AND unique_id = $2 AND held AND expires_at > now()
HAVING count(*) > 0
RETURNING unique_id, state, user_data

-- name: interaction_view
-- An interaction with a row, or one known only by the live phones it holds (it has no row, 0009).
WITH held AS (
    SELECT p.phone_number, s.allocated_at
    FROM phone_states s JOIN phones p ON p.phone_id = s.phone_id
    WHERE s.scope_id = $1 AND s.unique_id = $2 AND s.held AND s.expires_at > now()
    ORDER BY s.allocated_at DESC
), first_held AS (
    SELECT min(allocated_at) AS allocated_at FROM held HAVING count(*) > 0
)
SELECT $2 AS unique_id, coalesce(i.state, 'active') AS state, coalesce(i.user_data, '{}') AS user_data,
       coalesce(i.created_at, f.allocated_at) AS created_at, coalesce(i.updated_at, f.allocated_at) AS updated_at,
       (SELECT phone_number FROM held LIMIT 1) AS phone_number,
       (SELECT a.dtmf_code FROM allocations a
         WHERE a.scope_id = $1 AND a.unique_id = $2 AND a.ended_at IS NULL AND a.expires_at > now()
         LIMIT 1) AS dtmf
FROM (SELECT) one
LEFT JOIN interactions i ON i.scope_id = $1 AND i.unique_id = $2
LEFT JOIN first_held f ON true
WHERE i.unique_id IS NOT NULL OR f.allocated_at IS NOT NULL

-- name: list_active_interactions
-- The active interactions with a row, and those known only by the live phones they hold.
SELECT unique_id, state, user_data, created_at, updated_at FROM (
    SELECT unique_id, state, user_data, created_at, updated_at FROM interactions
    WHERE scope_id = $1 AND state = 'active'
    UNION ALL
    SELECT s.unique_id, 'active', '{}', min(s.allocated_at), min(s.allocated_at)
    FROM phone_states s
    WHERE s.scope_id = $1 AND s.held AND s.expires_at > now()
      AND NOT EXISTS (SELECT FROM interactions i WHERE i.scope_id = $1 AND i.unique_id = s.unique_id)
    GROUP BY s.unique_id
) active
WHERE $2::timestamptz IS NULL OR (created_at, unique_id) < ($2, $3)
ORDER BY created_at DESC, unique_id DESC
LIMIT $4
