-- name: rollback
-- A transaction whose own ROLLBACK did not run (its deadline had passed), ended before its
-- connection goes back to the pool.
ROLLBACK
