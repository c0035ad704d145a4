-- name: release_expired_phones
-- One bounded batch. SKIP LOCKED lets any number of replicas sweep at once, each allocation
-- being ended by exactly one of them. Set-based rather than end_phone_allocation() per phone: the
-- expiry storm releases hundreds of thousands.
WITH due AS (
    SELECT phone_id FROM phone_states
    WHERE held AND expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), ended AS (
    -- = ANY (ARRAY(...)), not a join with due: the plan stays on the primary key whatever the
    -- batch size, also in the generic plan, which cannot know it.
    UPDATE phone_states s SET held = false, released_at = s.expires_at
    WHERE s.phone_id = ANY (ARRAY(SELECT phone_id FROM due)) AND s.held
    RETURNING s.phone_id, s.scope_id, s.group_name, s.unique_id, s.allocated_at, s.expires_at
), recorded AS (
    INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, ended_at, end_reason)
    SELECT e.scope_id, p.phone_number, e.group_name, e.unique_id, e.allocated_at, e.expires_at, e.expires_at, 'expired'
    FROM ended e JOIN phones p ON p.phone_id = e.phone_id
)
SELECT sc.tenant_id, 'phone' AS kind, e.group_name, 'expired' AS end_reason,
       extract(epoch FROM e.expires_at - e.allocated_at)::float8 AS held_seconds
FROM ended e JOIN scopes sc ON sc.scope_id = e.scope_id

-- name: release_expired_codes
WITH due AS (
    SELECT allocation_id FROM allocations
    WHERE ended_at IS NULL AND kind = 'dtmf' AND expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), ended AS (
    UPDATE allocations a SET ended_at = a.expires_at, end_reason = 'expired'
    FROM due WHERE a.allocation_id = due.allocation_id
    RETURNING a.scope_id, a.kind, a.group_name, a.allocated_at, a.expires_at
)
SELECT s.tenant_id, e.kind, e.group_name, 'expired' AS end_reason,
       extract(epoch FROM e.expires_at - e.allocated_at)::float8 AS held_seconds
FROM ended e JOIN scopes s ON s.scope_id = e.scope_id

-- name: pool_gauges
SELECT s.tenant_id, s.environment, ps.group_name, ps.free, ps.allocated, ps.disabled
FROM pool_states ps JOIN scopes s ON s.scope_id = ps.scope_id

-- name: phones_row_versions
-- From the statistics collector: a few hundred milliseconds behind, which is all this needs.
SELECT n_dead_tup AS dead, n_live_tup AS live FROM pg_stat_user_tables WHERE relid = 'phone_states'::regclass

-- name: vacuum_phones
-- SKIP_LOCKED: when another replica is vacuuming it already, this one does nothing.
VACUUM (SKIP_LOCKED) phone_states

-- name: purge_history
DELETE FROM allocations WHERE allocation_id IN (
    SELECT allocation_id FROM allocations
    WHERE ended_at < now() - make_interval(days => $1)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)

-- name: purge_phone_history
-- By row address: the history has no key (0009); ended_at's BRIN index finds the old rows.
DELETE FROM phone_history WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM phone_history
    WHERE ended_at < now() - make_interval(days => $1)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
))

-- name: purge_interactions
-- Interactions untouched for the retention period that hold nothing any more.
DELETE FROM interactions WHERE (scope_id, unique_id) IN (
    SELECT i.scope_id, i.unique_id FROM interactions i
    WHERE i.updated_at < now() - make_interval(days => $1)
      AND NOT EXISTS (SELECT 1 FROM allocations a
                      WHERE a.scope_id = i.scope_id AND a.unique_id = i.unique_id AND a.ended_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM phone_states s
                      WHERE s.scope_id = i.scope_id AND s.unique_id = i.unique_id AND s.held)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)

-- name: purge_pool_traffic
-- Hourly traffic (pool sizing) is kept as long as the history it sums up.
DELETE FROM pool_traffic_hours WHERE (scope_id, group_name, hour, slot) IN (
    SELECT scope_id, group_name, hour, slot FROM pool_traffic_hours
    WHERE hour < now() - make_interval(days => $1)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
