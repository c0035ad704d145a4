-- What the database does for a benchmark's cycles, read by bench/dbwork.py (the same named blocks
-- as the service's sql/queries).

-- name: counters
-- WAL of the whole server; row writes and the transactions of this database; checkpoints started.
SELECT w.wal_bytes::bigint AS wal_bytes, w.wal_fpi, w.wal_records,
       d.tup_inserted + d.tup_updated + d.tup_deleted AS row_writes,
       (SELECT num_timed + num_requested FROM pg_stat_checkpointer) AS checkpoints
FROM pg_stat_wal w, pg_stat_database d
WHERE d.datname = current_database()

-- name: counters_before_17
-- counters, on a server older than 17 (checkpoints in pg_stat_bgwriter).
SELECT w.wal_bytes::bigint AS wal_bytes, w.wal_fpi, w.wal_records,
       d.tup_inserted + d.tup_updated + d.tup_deleted AS row_writes,
       (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) AS checkpoints
FROM pg_stat_wal w, pg_stat_database d
WHERE d.datname = current_database()

-- name: statements
-- The statements of this database that wrote most WAL since the last reset (pg_stat_statements).
SELECT calls, rows, wal_bytes::bigint AS wal_bytes, wal_fpi, wal_records,
       total_exec_time, regexp_replace(query, '\s+', ' ', 'g') AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY wal_bytes DESC, calls DESC
LIMIT $1
