-- Indexes for the periodic jobs, and the view of phones by state shared by stats and gauges.

-- Live DTMF codes by expiry, for the release job (phones use phones_expiry_idx).
CREATE INDEX allocations_open_code_expiry_idx ON allocations (expires_at)
    WHERE ended_at IS NULL AND kind = 'dtmf';
-- Ended history by end time, for the retention purge.
CREATE INDEX allocations_ended_idx ON allocations (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX interactions_updated_idx ON interactions (updated_at);

-- A phone is allocated while its allocation has not expired (whether or not the release job
-- has run), free when enabled and not allocated, disabled when neither.
CREATE VIEW pool_states AS
SELECT p.scope_id, p.group_name,
       count(*) FILTER (WHERE p.expires_at > now()) AS allocated,
       count(*) FILTER (WHERE p.enabled AND NOT coalesce(p.expires_at > now(), false)) AS free,
       count(*) FILTER (WHERE NOT p.enabled AND NOT coalesce(p.expires_at > now(), false)) AS disabled
FROM phones p
GROUP BY p.scope_id, p.group_name;
