-- name: lock_migrations
-- Any constant works; it only has to be the same for every replica.
SELECT pg_advisory_lock(x'0D17150001'::bigint)

-- name: unlock_migrations
SELECT pg_advisory_unlock(x'0D17150001'::bigint)

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: applied_migrations
SELECT version FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name) VALUES ($1, $2)

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_migrations
