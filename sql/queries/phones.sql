-- name: insert_phone
INSERT INTO phones (scope_id, phone_number, dn_id, group_name, enabled)
VALUES ($1, $2, $3, $4, $5)
RETURNING phone_id

-- name: create_phone_import
-- The rows of one import (domain/phones.py create_phones), copied in as they are read; gone when
-- its transaction ends.
CREATE TEMPORARY TABLE phone_import (
    row_number   integer NOT NULL,
    phone_number text NOT NULL,
    dn_id        text,
    group_name   text NOT NULL,
    enabled      boolean NOT NULL
) ON COMMIT DROP

-- name: analyze_phone_import
-- A temporary table has no statistics until analysed; the planner needs them to join it well.
ANALYZE phone_import

-- name: phone_import_duplicates
-- The imported values that are taken or repeated: numbers exist anywhere (a number has one owner),
-- dnIds in this scope ($1).
SELECT value FROM (
    SELECT phone_number AS value FROM phone_import GROUP BY phone_number HAVING count(*) > 1
    UNION
    SELECT dn_id FROM phone_import WHERE dn_id IS NOT NULL GROUP BY dn_id HAVING count(*) > 1
    UNION
    SELECT i.phone_number FROM phone_import i JOIN phones p ON p.phone_number = i.phone_number
    UNION
    SELECT i.dn_id FROM phone_import i JOIN phones p ON p.scope_id = $1 AND p.dn_id = i.dn_id
) duplicate
ORDER BY value COLLATE "C"

-- name: insert_imported_phones
INSERT INTO phones (scope_id, phone_number, dn_id, group_name, enabled)
SELECT $1, phone_number, dn_id, group_name, enabled FROM phone_import ORDER BY row_number

-- name: list_phones
SELECT p.phone_id, p.phone_number, p.dn_id, p.group_name, p.enabled, s.held,
       s.unique_id, s.allocated_at, s.expires_at, s.held AND s.expires_at > now() AS live
FROM phones p
JOIN phone_states s ON s.phone_id = p.phone_id
WHERE p.scope_id = $1
  AND ($2::text IS NULL OR p.group_name = $2)
  AND ($3::bool IS NULL OR p.enabled = $3)
  AND ($4::bool IS NULL OR (s.held AND s.expires_at > now()) = $4)
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
