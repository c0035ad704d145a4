-- name: insert_phone
INSERT INTO phones (scope_id, phone_number, dn_id, group_name, enabled)
VALUES ($1, $2, $3, $4, $5)
RETURNING phone_id

-- name: insert_phones
INSERT INTO phones (scope_id, phone_number, dn_id, group_name, enabled)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[])

-- name: existing_phones
-- Numbers taken anywhere (a number has one owner) and dnIds taken in this scope.
SELECT phone_number AS taken FROM phones WHERE phone_number = ANY($2::text[])
UNION ALL
SELECT dn_id FROM phones WHERE scope_id = $1 AND dn_id = ANY($3::text[])

-- name: list_phones
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, p.allocation_id,
       a.unique_id, a.allocated_at, a.expires_at, coalesce(p.expires_at > now(), false) AS live
FROM phones p
LEFT JOIN allocations a ON a.allocation_id = p.allocation_id
WHERE p.scope_id = $1
  AND ($2::text IS NULL OR p.group_name = $2)
  AND ($3::bool IS NULL OR p.enabled = $3)
  AND ($4::bool IS NULL OR coalesce(p.expires_at > now(), false) = $4)
  AND ($5::text IS NULL OR p.phone_number > $5)
ORDER BY p.phone_number
LIMIT $6

-- name: update_phone
UPDATE phones
SET dn_id = CASE WHEN $3 THEN $4 ELSE dn_id END,
    group_name = coalesce($5, group_name),
    enabled = coalesce($6, enabled)
WHERE phone_id = $1 AND scope_id = $2

-- name: delete_phone
DELETE FROM phones WHERE phone_id = $1
