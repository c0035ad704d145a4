-- name: end_allocation
-- The caller holds the phone's row lock, if there is a phone (the function is in migration 0006).
SELECT kind, group_name, end_reason, held_seconds FROM end_allocation($1, $2)
