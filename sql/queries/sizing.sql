-- Hours are clock hours in UTC, whatever the session's time zone.

-- name: roll_up_traffic_hour
-- Stores the phone allocations of the oldest hour not rolled up yet (none older than $1 days),
-- per scope and group, if that hour ended an hour ago or more: by then every allocation made in
-- it has ended, unless its timeout is over an hour. Returns the hour, or nothing when none is due
-- or another replica holds the mark (SKIP LOCKED). An allocation still open counts as held so
-- far, as in pool_traffic.
WITH mark AS (
    SELECT greatest(rolled_until, date_trunc('hour', now() - make_interval(days => $1), 'UTC')) AS hour
    FROM pool_traffic_rollup
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT hour FROM mark WHERE hour < date_trunc('hour', now(), 'UTC') - interval '1 hour'
), stored AS (
    -- One pass over the hour, all scopes at once: the history's BRIN index of allocation times
    -- reads the pages of that hour only, and the live holds are read on their expiry index (an
    -- allocation made in the hour expires after its start).
    INSERT INTO pool_traffic_hours AS t (scope_id, group_name, hour, allocations, held_seconds)
    SELECT a.scope_id, a.group_name, (SELECT hour FROM due), count(*),
           sum(extract(epoch FROM least(coalesce(a.ended_at, now()), a.expires_at) - a.allocated_at))::float8
    FROM phone_allocations a
    WHERE a.allocated_at >= (SELECT hour FROM due) AND a.allocated_at < (SELECT hour FROM due) + interval '1 hour'
      AND a.expires_at > (SELECT hour FROM due)
    GROUP BY a.scope_id, a.group_name
    ON CONFLICT (scope_id, group_name, hour, slot)
    DO UPDATE SET allocations = excluded.allocations, held_seconds = excluded.held_seconds
), moved AS (
    UPDATE pool_traffic_rollup SET rolled_until = d.hour + interval '1 hour' FROM due d
)
SELECT hour FROM due

-- name: pool_traffic
-- Per (scope, group) of the scopes of tenant $1 (NULL: every tenant) and environment $2, and
-- group $3 (NULL: all), over the clock hours from $4 days before the current one up to now:
-- the busy hour (the hour with the highest rate of arrivals — new phone allocations and refusals
-- —, the latest of equals), its arrivals, refusals and the hours it was observed: 1, or for the
-- current hour the time since it began, counted as a quarter of an hour at least (so that a few
-- arrivals just after the hour turned are not taken for a rush); and the allocations of the whole
-- window with the seconds they held their numbers, from allocation to release, or so far for one
-- still open (its timeout is often far longer than its use). Hours before the rollup mark are
-- read from pool_traffic_hours, later ones from the history (and the live holds).
WITH scoped AS (
    SELECT s.scope_id, s.tenant_id, s.environment, t.quarantine_seconds, t.target_blocking,
           date_trunc('hour', now(), 'UTC') - make_interval(days => $4) AS since
    FROM scopes s JOIN tenants t ON t.tenant_id = s.tenant_id
    WHERE ($1::text IS NULL OR s.tenant_id = $1) AND ($2::text IS NULL OR s.environment = $2)
), since_mark AS (
    SELECT greatest(date_trunc('hour', now(), 'UTC') - make_interval(days => $4), coalesce(rolled_until, '-infinity'))
               AS start
    FROM pool_traffic_rollup
), recent AS (
    -- One pass over the hours since the rollup mark, all the chosen scopes at once: the history's
    -- BRIN index of allocation times reads those hours only (the mark keeps them to an hour or
    -- two), and the live holds are read on their expiry index (each expires after its start).
    SELECT a.scope_id, a.group_name, date_trunc('hour', a.allocated_at, 'UTC') AS hour, 0::bigint AS refusals,
           count(*) AS allocations,
           sum(extract(epoch FROM least(coalesce(a.ended_at, now()), a.expires_at) - a.allocated_at))::float8
               AS held_seconds
    FROM phone_allocations a
    JOIN scoped s ON s.scope_id = a.scope_id
    WHERE a.allocated_at >= (SELECT start FROM since_mark) AND a.expires_at > (SELECT start FROM since_mark)
      AND ($3::text IS NULL OR a.group_name = $3)
    GROUP BY a.scope_id, a.group_name, date_trunc('hour', a.allocated_at, 'UTC')
), hourly AS (
    SELECT scope_id, group_name, hour, sum(refusals) AS refusals, sum(allocations) AS allocations,
           sum(held_seconds) AS held_seconds
    FROM (
        SELECT * FROM recent
        UNION ALL
        SELECT s.scope_id, h.group_name, h.hour, h.refusals, h.allocations, h.held_seconds
        FROM scoped s
        JOIN pool_traffic_hours h ON h.scope_id = s.scope_id AND h.hour >= s.since
        WHERE $3::text IS NULL OR h.group_name = $3
    ) both_sources
    GROUP BY scope_id, group_name, hour
), observed AS (
    SELECT *, allocations + refusals AS arrivals,
           greatest(least(extract(epoch FROM now() - hour)::float8 / 3600, 1), 0.25) AS observed_hours
    FROM hourly
), busiest AS (
    SELECT DISTINCT ON (scope_id, group_name) scope_id, group_name, hour, arrivals, refusals, observed_hours
    FROM observed
    ORDER BY scope_id, group_name, arrivals / observed_hours DESC, hour DESC
), whole_window AS (
    SELECT scope_id, group_name, sum(allocations) AS allocations, sum(held_seconds) AS held_seconds
    FROM hourly GROUP BY scope_id, group_name
)
SELECT s.tenant_id, s.environment, b.group_name, b.hour AS busy_hour_start, b.arrivals::bigint AS arrivals,
       b.refusals::bigint AS refusals, b.observed_hours, w.allocations::bigint AS allocations,
       w.held_seconds::float8 AS held_seconds, s.quarantine_seconds, s.target_blocking
FROM busiest b
JOIN whole_window w USING (scope_id, group_name)
JOIN scoped s USING (scope_id)

-- name: enabled_phones
-- Phones enabled now per (scope, group), for the same choice of scopes and group as pool_traffic:
-- a pool count, like pool_gauges, reading every phone of the chosen scopes.
SELECT s.tenant_id, s.environment, p.group_name, count(*) FILTER (WHERE p.enabled) AS enabled,
       t.target_blocking
FROM scopes s
JOIN tenants t ON t.tenant_id = s.tenant_id
JOIN phones p ON p.scope_id = s.scope_id
WHERE ($1::text IS NULL OR s.tenant_id = $1) AND ($2::text IS NULL OR s.environment = $2)
  AND ($3::text IS NULL OR p.group_name = $3)
GROUP BY s.tenant_id, s.environment, p.group_name, t.target_blocking
