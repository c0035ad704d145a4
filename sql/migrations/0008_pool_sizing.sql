-- Pool sizing (dnis_service/domain/sizing.py): the traffic of each pool group per clock hour,
-- the allocation history indexed by scope and time, and each tenant's target blocking.

-- Per scope, group and clock hour (UTC): the allocation requests refused for want of a phone
-- (the group asked for, '' when none was named), counted as they happen — one upsert per refusal,
-- nothing on a successful allocation — and, once the hour has settled, its phone allocations
-- and the seconds they held their numbers, rolled up from the history by the sizing job (in
-- slot 0). Refusals are counted in one of 8 slots, by database session, and read as their sum:
-- concurrent refusals of one group then seldom wait for each other's row lock (bench/README.md).
CREATE TABLE pool_traffic_hours (
    scope_id     integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    group_name   text NOT NULL,
    hour         timestamptz NOT NULL,
    slot         smallint NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 7),
    refusals     bigint NOT NULL DEFAULT 0 CHECK (refusals >= 0),
    allocations  bigint NOT NULL DEFAULT 0 CHECK (allocations >= 0),
    held_seconds double precision NOT NULL DEFAULT 0 CHECK (held_seconds >= 0),
    PRIMARY KEY (scope_id, group_name, hour, slot)
);
-- For the retention purge; counting a refusal changes no indexed column (a HOT update).
CREATE INDEX pool_traffic_hours_hour_idx ON pool_traffic_hours (hour);

-- The hours before rolled_until are in pool_traffic_hours; later ones are read from the history.
CREATE TABLE pool_traffic_rollup (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    rolled_until timestamptz
);
INSERT INTO pool_traffic_rollup (rolled_until) VALUES (NULL);

-- The phone allocations of a scope by allocation time, with the columns the sizing reads, so that
-- a window is read from its own index entries only. It replaces the index on allocated_at alone,
-- which no query used: an allocation writes as many index entries as before.
DROP INDEX allocations_allocated_at_idx;
CREATE INDEX allocations_traffic_idx ON allocations (scope_id, allocated_at)
    INCLUDE (group_name, expires_at, ended_at) WHERE kind = 'phone';

ALTER TABLE tenants
    ADD COLUMN target_blocking double precision NOT NULL DEFAULT 0.001
        CHECK (target_blocking > 0 AND target_blocking < 1);
