-- A phone allocation's end is stamped on the clock after any change it waited for, not before.
-- 0009 read clock_timestamp() once, in a FROM item, before the UPDATE waited for the row: an end
-- that waited for a concurrent extension was stamped before that extension committed. An UPDATE
-- evaluates its SET list again on the new version of a row changed while it waited, so the clock
-- is read there; the end reason follows from the end (it is the expiry exactly when it had passed).

CREATE OR REPLACE FUNCTION end_phone_allocation(p_phone_id bigint, p_allocated_at timestamptz, p_reason text)
RETURNS TABLE (scope_id integer, phone_number text, unique_id text, kind text, group_name text,
               end_reason text, held_seconds float8)
LANGUAGE sql VOLATILE AS $$
    WITH ended AS (
        UPDATE phone_states s SET held = false, released_at = least(clock_timestamp(), s.expires_at)
        WHERE s.phone_id = p_phone_id AND s.held AND s.allocated_at = p_allocated_at
        RETURNING s.phone_id, s.scope_id, s.group_name, s.unique_id, s.allocated_at, s.expires_at, s.released_at,
                  CASE WHEN s.released_at = s.expires_at THEN 'expired' ELSE p_reason END AS end_reason
    ), named AS (
        SELECT e.*, p.phone_number FROM ended e JOIN phones p ON p.phone_id = e.phone_id
    ), recorded AS (
        INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, ended_at, end_reason)
        SELECT scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, released_at, end_reason FROM named
    )
    SELECT scope_id, phone_number, unique_id, 'phone', group_name, end_reason,
           extract(epoch FROM released_at - allocated_at)::float8
    FROM named
$$;
