-- Ending an allocation, as one function: the named query end_allocation calls it, and free_phone
-- calls it inside the very statement that locks the phone, so freeing is one round trip.
-- The caller holds the phone's row lock, if there is a phone. An allocation already past its
-- expiry ends as 'expired' at its expiry time whoever ends it, so the history stays exact.
-- clock_timestamp(), not now(): the transaction may have begun before the allocation did.
-- Being VOLATILE, its statements see what concurrent transactions committed before they ran,
-- even when the calling statement began earlier. A NULL allocation id ends nothing.
CREATE FUNCTION end_allocation(p_allocation_id bigint, p_reason text)
RETURNS TABLE (kind text, group_name text, end_reason text, held_seconds float8)
LANGUAGE sql VOLATILE AS $$
    WITH ended AS (
        UPDATE allocations
        SET ended_at = least(c.now, expires_at),
            end_reason = CASE WHEN expires_at <= c.now THEN 'expired' ELSE p_reason END
        FROM (SELECT clock_timestamp() AS now) c
        WHERE allocation_id = p_allocation_id AND ended_at IS NULL
        RETURNING allocation_id, phone_id, kind, group_name, allocated_at, ended_at, end_reason
    ), released AS (
        UPDATE phones p SET allocation_id = NULL, expires_at = NULL, released_at = e.ended_at
        FROM ended e WHERE p.phone_id = e.phone_id AND p.allocation_id = e.allocation_id
    )
    SELECT kind, group_name, end_reason, extract(epoch FROM ended_at - allocated_at)::float8 FROM ended
$$;
