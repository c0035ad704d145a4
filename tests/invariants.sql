-- What must hold in every database after every test, whatever ran (tests/invariants.py).
-- Each row is one violation: what is wrong, and for which phone number or DTMF code.

-- A phone's mirror of its open allocation (phones.allocation_id, expires_at) matches the
-- allocations table, both ways.
SELECT 'the phone row does not mirror its open allocation' AS problem,
       coalesce(p.phone_number, a.phone_number) AS subject
FROM phones p
FULL JOIN (SELECT * FROM allocations WHERE ended_at IS NULL AND kind = 'phone') a
  ON a.allocation_id = p.allocation_id
WHERE p.allocation_id IS DISTINCT FROM a.allocation_id OR p.expires_at IS DISTINCT FROM a.expires_at

UNION ALL

-- No two allocations of one number (or of one scope's DTMF code) overlap in time, history
-- included: "who held it at 14:05?" has one answer. An allocation holds from allocated_at until
-- it ended, or expired, whichever came first.
SELECT 'two holders at once', subject
FROM (
    SELECT coalesce(phone_number, scope_id || ':' || dtmf_code) AS subject, allocated_at,
           lag(least(coalesce(ended_at, expires_at), expires_at)) OVER (
               PARTITION BY kind, coalesce(phone_number, scope_id || ':' || dtmf_code)
               ORDER BY allocated_at, allocation_id) AS previous_end
    FROM allocations
) held
WHERE allocated_at < previous_end
