-- What must hold in every database after every test, whatever ran (tests/invariants.py).
-- Each row is one violation: what is wrong, and for which phone number or DTMF code.

-- Every phone has its state row, which copies the phone's scope, group and enabled flag.
SELECT 'the state row does not match its phone' AS problem, coalesce(p.phone_number, s.phone_id::text) AS subject
FROM phones p
FULL JOIN phone_states s ON s.phone_id = p.phone_id
WHERE p.phone_id IS NULL OR s.phone_id IS NULL
   OR (p.scope_id, p.group_name, p.enabled) IS DISTINCT FROM (s.scope_id, s.group_name, s.enabled)

UNION ALL

-- A free phone was released when its last holder's allocation ended (or is a phone never held).
SELECT 'a free phone was released before its last allocation ended', p.phone_number
FROM phone_states s JOIN phones p ON p.phone_id = s.phone_id
WHERE NOT s.held AND s.unique_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM phone_history h
                  WHERE h.phone_number = p.phone_number AND h.allocated_at = s.allocated_at
                    AND h.ended_at = s.released_at)

UNION ALL

-- No two allocations of one number (or of one scope's DTMF code) overlap in time, history and
-- live holds included: "who held it at 14:05?" has one answer. An allocation holds from
-- allocated_at until it ended, or expired, whichever came first.
SELECT 'two holders at once', subject
FROM (
    SELECT subject, allocated_at,
           lag(least(coalesce(ended_at, expires_at), expires_at)) OVER (
               PARTITION BY subject ORDER BY allocated_at) AS previous_end
    FROM (
        SELECT phone_number AS subject, allocated_at, expires_at, ended_at FROM phone_allocations
        UNION ALL
        SELECT scope_id || ':' || dtmf_code, allocated_at, expires_at, ended_at FROM allocations
    ) every_allocation
) held
WHERE allocated_at < previous_end
