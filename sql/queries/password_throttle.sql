-- name: claim_password_attempt
-- The database's clock, not the replica's: every replica counts on the same one.
SELECT claimed_at, retry_after_seconds
FROM claim_password_attempt($1, $2, $3, make_interval(secs => $4), clock_timestamp())

-- name: withdraw_password_attempt
-- A check that did not fail gives back its own claim, and nothing of anyone else's.
UPDATE password_attempts SET attempted_at = array_remove(attempted_at, $3)
WHERE tenant_id = $1 AND user_digest = $2

-- name: forget_old_password_attempts
-- Rows whose newest attempt (the last element) has left the window; a row whose only claim was
-- withdrawn is empty. A small table: at most one row per user that failed within the window.
DELETE FROM password_attempts
WHERE coalesce(attempted_at[cardinality(attempted_at)], '-infinity') < now() - make_interval(secs => $1)
