-- name: insert_tenant
INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)
ON CONFLICT (tenant_id) DO NOTHING
RETURNING tenant_id

-- name: insert_scopes
INSERT INTO scopes (tenant_id, environment) SELECT $1, unnest($2::text[])

-- name: tenant_exists
SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)

-- name: insert_application
INSERT INTO applications (application_id, scope_id, kind, name, key_digest) VALUES ($1, $2, $3, $4, $5)

-- name: delete_application
DELETE FROM applications a USING scopes s
WHERE a.application_id = $2 AND s.scope_id = a.scope_id AND s.tenant_id = $1
RETURNING a.application_id

-- name: insert_user
INSERT INTO users (tenant_id, user_id, password_hash) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING user_id

-- name: delete_user
DELETE FROM users WHERE tenant_id = $1 AND user_id = $2 RETURNING user_id

-- name: tenant_settings
SELECT default_timeout_seconds, max_timeout_seconds, quarantine_seconds, dtmf_digits, sms_provider, target_blocking
FROM tenants WHERE tenant_id = $1

-- name: update_tenant_settings
UPDATE tenants SET default_timeout_seconds = $2, max_timeout_seconds = $3, quarantine_seconds = $4,
                   dtmf_digits = $5, sms_provider = $6, target_blocking = $7
WHERE tenant_id = $1

-- name: pool_stats
-- Per environment and group: phones by state now, and the last hour's activity from the history.
WITH scoped AS (
    SELECT scope_id, environment FROM scopes WHERE tenant_id = $1
), states AS (
    SELECT * FROM pool_states JOIN scoped USING (scope_id)
), recent AS (
    SELECT a.scope_id, a.group_name, a.allocated_at,
           least(coalesce(a.ended_at, a.expires_at), a.expires_at) AS ends_at
    FROM phone_allocations a JOIN scoped USING (scope_id)
    WHERE least(coalesce(a.ended_at, a.expires_at), a.expires_at) > now() - interval '1 hour'
), events AS (
    SELECT scope_id, group_name, greatest(allocated_at, now() - interval '1 hour') AS at, 1 AS delta
    FROM recent
    UNION ALL
    SELECT scope_id, group_name, ends_at, -1 FROM recent WHERE ends_at <= now()
), running AS (
    SELECT scope_id, group_name,
           sum(delta) OVER (PARTITION BY scope_id, group_name ORDER BY at, delta
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS concurrent
    FROM events
), activity AS (
    SELECT r.scope_id, r.group_name,
           count(*) FILTER (WHERE r.allocated_at > now() - interval '1 hour') AS allocations_last_hour,
           count(*) FILTER (WHERE r.ends_at <= now()) AS releases_last_hour
    FROM recent r GROUP BY r.scope_id, r.group_name
), peaks AS (
    SELECT scope_id, group_name, max(concurrent) AS peak FROM running GROUP BY scope_id, group_name
)
SELECT s.environment, k.group_name AS "group",
       coalesce(st.free, 0) AS free, coalesce(st.allocated, 0) AS allocated,
       coalesce(st.disabled, 0) AS disabled,
       coalesce(ac.allocations_last_hour, 0) AS allocations_last_hour,
       coalesce(ac.releases_last_hour, 0) AS releases_last_hour,
       coalesce(pk.peak, 0) AS peak_concurrent_allocations
FROM (SELECT scope_id, group_name FROM states UNION SELECT scope_id, group_name FROM activity) k
JOIN scoped s USING (scope_id)
LEFT JOIN states st USING (scope_id, group_name)
LEFT JOIN activity ac USING (scope_id, group_name)
LEFT JOIN peaks pk USING (scope_id, group_name)
ORDER BY s.environment, k.group_name

-- name: operator_scope
SELECT s.scope_id, t.default_timeout_seconds, t.max_timeout_seconds, t.quarantine_seconds, t.dtmf_digits
FROM scopes s JOIN tenants t ON t.tenant_id = s.tenant_id
WHERE s.tenant_id = $1 AND s.environment = $2
