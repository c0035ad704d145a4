-- allocate_phone() (0009) looked for the interaction's own expired holds with
--     WHERE scope_id = p_scope AND unique_id = p_uid AND held AND expires_at <= now()
-- which the planner may answer from the expiry index instead of the holder index: in the steady
-- state the statistics say hardly any hold is past its expiry, so that range looks empty. In an
-- expiry storm (100,000 holds expired together, the release job still ending them) it is not:
-- every allocation of every tenant walked it, 2.6 ms instead of 0.2, and the clients' allocate
-- p99 doubled while the storm was released (bench/README.md). The interaction's holds are now
-- read first, in a MATERIALIZED CTE that can only be planned on the holder index (a few rows at
-- most), and filtered by expiry after. The rest of the function is 0009's.

-- Allocates a phone of scope p_scope to interaction p_uid, in group p_group (NULL: any), for
-- p_timeout seconds, as one statement. Its rows, by outcome:
--   'held'    the interaction holds a live phone (of that group) already: that one (idempotent);
--   'new'     the phone now allocated to it: the least recently released free phone, free for
--             p_quarantine seconds at least; else the one whose allocation expired longest ago
--             (the release job may not have ended it yet: expiry is exact regardless);
--   'ended'   an allocation ended on the way: the interaction's own expired ones, or the expired
--             one a phone was taken over from (for the release metrics);
-- and neither 'held' nor 'new' when no phone is available; that refusal is counted for pool
-- sizing (0008), in one of 8 slots by session.
-- Lock order: the interaction id (an advisory lock, so that concurrent requests for one id take
-- one phone between them), then its row, then phone rows. A free phone's lock is only ever taken
-- with SKIP LOCKED, so nothing waits for it holding an interaction's lock.
-- An allocation starts on the clock once its phone is locked, and expires from that instant: the
-- statement's start, now(), may predate the end of the phone's previous allocation.
CREATE OR REPLACE FUNCTION allocate_phone(p_scope integer, p_uid text, p_group text, p_quarantine float8, p_timeout float8)
RETURNS TABLE (outcome text, phone_number text, dn_id text, group_name text, allocated_at timestamptz,
               expires_at timestamptz, end_reason text, held_seconds float8)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    taken phone_states;
BEGIN
    PERFORM pg_advisory_xact_lock(p_scope, hashtext(p_uid));
    -- An interaction with a row is active again, and touched (at most hourly) against retention.
    UPDATE interactions SET state = 'active', updated_at = now()
    WHERE scope_id = p_scope AND unique_id = p_uid AND (state <> 'active' OR updated_at < now() - interval '1 hour');

    -- The interaction's holds, read on the holder index, and only then those past their expiry.
    RETURN QUERY
        WITH holds AS MATERIALIZED (
            SELECT s.phone_id, s.allocated_at, s.expires_at FROM phone_states s
            WHERE s.scope_id = p_scope AND s.unique_id = p_uid AND s.held
        )
        SELECT 'ended', e.phone_number, NULL::text, e.group_name, NULL::timestamptz, NULL::timestamptz,
               e.end_reason, e.held_seconds
        FROM holds h CROSS JOIN LATERAL end_phone_allocation(h.phone_id, h.allocated_at, 'expired') e
        WHERE h.expires_at <= now();

    RETURN QUERY
        SELECT 'held', p.phone_number, p.dn_id, s.group_name, s.allocated_at, s.expires_at, NULL::text, NULL::float8
        FROM phone_states s JOIN phones p ON p.phone_id = s.phone_id
        WHERE s.scope_id = p_scope AND s.unique_id = p_uid AND s.held AND (p_group IS NULL OR s.group_name = p_group)
        ORDER BY s.allocated_at DESC
        LIMIT 1;
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT * INTO taken FROM phone_states s
    WHERE s.scope_id = p_scope AND s.enabled AND NOT s.held
      AND s.released_at <= now() - make_interval(secs => p_quarantine)
      AND (p_group IS NULL OR s.group_name = p_group)
    ORDER BY s.released_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT * INTO taken FROM phone_states s
        WHERE s.scope_id = p_scope AND s.enabled AND s.held
          AND s.expires_at <= now() - make_interval(secs => p_quarantine)
          AND (p_group IS NULL OR s.group_name = p_group)
        ORDER BY s.expires_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            INSERT INTO pool_traffic_hours AS t (scope_id, group_name, hour, slot, refusals)
            VALUES (p_scope, coalesce(p_group, ''), date_trunc('hour', now(), 'UTC'), pg_backend_pid() % 8, 1)
            ON CONFLICT (scope_id, group_name, hour, slot) DO UPDATE SET refusals = t.refusals + 1;
            RETURN;
        END IF;
        RETURN QUERY
            SELECT 'ended', e.phone_number, NULL::text, e.group_name, NULL::timestamptz, NULL::timestamptz,
                   e.end_reason, e.held_seconds
            FROM end_phone_allocation(taken.phone_id, taken.allocated_at, 'expired') e;
    END IF;

    RETURN QUERY
        WITH claimed AS (
            UPDATE phone_states s
            SET held = true, unique_id = p_uid,
                (allocated_at, expires_at) = (SELECT c, c + make_interval(secs => p_timeout) FROM clock_timestamp() c)
            WHERE s.phone_id = taken.phone_id
            RETURNING s.phone_id, s.group_name, s.allocated_at, s.expires_at
        )
        SELECT 'new', p.phone_number, p.dn_id, c.group_name, c.allocated_at, c.expires_at, NULL::text, NULL::float8
        FROM claimed c JOIN phones p ON p.phone_id = c.phone_id;
END $$;
