-- The minimal design of a phone pool, the baseline the service's SQL is measured against
-- (bench/cycles.py): one table, a free phone claimed with FOR UPDATE SKIP LOCKED and an UPDATE,
-- read, and freed with an UPDATE. It lives in a database of its own (cycles.py creates it), so the
-- service's tables are not touched. The cycle itself is minimal.pgbench.

-- name: create_table
CREATE TABLE mphones (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number text NOT NULL UNIQUE,
    holder text,
    expires_at timestamptz,
    released_at timestamptz NOT NULL DEFAULT '-infinity'
) WITH (fillfactor = 80)

-- name: create_index
CREATE INDEX mphones_free ON mphones (released_at) WHERE holder IS NULL

-- name: fill
-- $1 phones.
INSERT INTO mphones (number) SELECT (15550000000 + g)::text FROM generate_series(1, $1::int) g

-- name: analyze
ANALYZE mphones
