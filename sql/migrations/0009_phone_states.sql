-- Allocation state leaves the phones catalogue, and a phone's history is written once.
--
-- Before, a cycle (allocate, look up, free) wrote five rows and some twenty index entries: the
-- interaction's row, an allocations row inserted and then updated, and the wide phones row twice,
-- with its five indexes each time. Now it writes three rows (bench/README.md has the figures):
-- - phone_states: one narrow row per phone, the only row an allocation or a release updates. It
--   carries the holder (held, unique_id, allocated_at, expires_at). A release clears `held` and
--   keeps the last holder's values, so that its RETURNING can write the history from them, in the
--   same statement, without reading the row first.
-- - phone_history: one row per ended phone allocation, written when it ends. No key and no foreign
--   key (a foreign key check would lock the scope's row on every insert); rows arrive in time
--   order, so BRIN indexes serve the time windows of pool sizing and retention at next to no cost
--   per insert.
-- - allocations keeps the DTMF codes only.
-- - an interaction that only borrows phones has no row: it is known by its holds (phone_states)
--   and its history; it gets a row when it has something to keep (user data, attributes, a code,
--   an ended state).

CREATE TABLE phone_states (
    phone_id     bigint PRIMARY KEY REFERENCES phones ON DELETE CASCADE,
    scope_id     integer NOT NULL,
    group_name   text NOT NULL,
    enabled      boolean NOT NULL,
    held         boolean NOT NULL DEFAULT false,
    -- When the phone last became free: the least recently released free phone goes first.
    released_at  timestamptz NOT NULL DEFAULT '-infinity',
    -- The holder while held; the last holder after a release; NULL for a phone never allocated.
    unique_id    text,
    allocated_at timestamptz,
    expires_at   timestamptz,
    CHECK (NOT held OR (unique_id IS NOT NULL AND allocated_at IS NOT NULL AND expires_at > allocated_at))
) WITH (fillfactor = 70);

-- Three indexes, the least the operations need (each costs an entry on every allocation or
-- release): free phones by release time, held phones by expiry (the release job, taking over an
-- expired phone), and the holder, which also makes two live phones of one interaction in one
-- group impossible.
CREATE INDEX phone_states_free_idx ON phone_states (scope_id, released_at) WHERE enabled AND NOT held;
CREATE INDEX phone_states_expiry_idx ON phone_states (expires_at) WHERE held;
CREATE UNIQUE INDEX phone_states_holder_uq ON phone_states (scope_id, unique_id, group_name) WHERE held;

CREATE TABLE phone_history (
    scope_id     integer NOT NULL,
    phone_number text NOT NULL,
    group_name   text NOT NULL,
    unique_id    text NOT NULL,
    allocated_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    end_reason   text NOT NULL CHECK (end_reason IN ('freed', 'expired', 'completed', 'cancelled', 'deleted')),
    CHECK (allocated_at <= ended_at AND ended_at <= expires_at)
);
CREATE INDEX phone_history_number_idx ON phone_history (phone_number, allocated_at);
-- autosummarize: a range of pages is summarized as soon as it is full, not at the next vacuum.
CREATE INDEX phone_history_allocated_brin ON phone_history USING brin (allocated_at) WITH (autosummarize = on);
CREATE INDEX phone_history_ended_brin ON phone_history USING brin (ended_at) WITH (autosummarize = on);

-- Every phone allocation, ended or live (ended_at NULL), for the queries that read both.
CREATE VIEW phone_allocations AS
SELECT scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, ended_at, end_reason
FROM phone_history
UNION ALL
-- (the number as a subquery: a query that does not read it does not join the phones)
SELECT s.scope_id, (SELECT p.phone_number FROM phones p WHERE p.phone_id = s.phone_id), s.group_name,
       s.unique_id, s.allocated_at, s.expires_at, NULL, NULL
FROM phone_states s
WHERE s.held;

-- Every phone has its state row, which keeps copies of its scope, group and enabled flag: made
-- by triggers, so that whatever inserts phones (one, an import, a script) cannot forget it.
CREATE FUNCTION create_phone_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO phone_states (phone_id, scope_id, group_name, enabled)
    SELECT phone_id, scope_id, group_name, enabled FROM created;
    RETURN NULL;
END $$;

CREATE FUNCTION copy_phone_to_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE phone_states SET group_name = NEW.group_name, enabled = NEW.enabled WHERE phone_id = NEW.phone_id;
    RETURN NULL;
END $$;

-- The data moves: live allocations to phone_states, ended ones to phone_history.
INSERT INTO phone_states (phone_id, scope_id, group_name, enabled, held, released_at, unique_id, allocated_at, expires_at)
SELECT p.phone_id, p.scope_id, p.group_name, p.enabled, a.allocation_id IS NOT NULL, p.released_at,
       a.unique_id, a.allocated_at, a.expires_at
FROM phones p
LEFT JOIN allocations a ON a.allocation_id = p.allocation_id AND a.ended_at IS NULL;

INSERT INTO phone_history (scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, ended_at, end_reason)
SELECT scope_id, phone_number, group_name, unique_id, allocated_at, expires_at, ended_at, end_reason
FROM allocations
WHERE kind = 'phone' AND ended_at IS NOT NULL
ORDER BY ended_at;

DELETE FROM allocations WHERE kind = 'phone';

-- The index build summarizes the last range of pages too, partly filled (even the first, empty,
-- range of an empty table); every insert with a later time would then rewrite its summary. Left
-- unsummarized, that range costs inserts nothing until it is full and autosummarized.
SELECT brin_desummarize_range(i, greatest(pg_relation_size('phone_history') / current_setting('block_size')::bigint - 1, 0))
FROM unnest(ARRAY['phone_history_allocated_brin', 'phone_history_ended_brin']::regclass[]) i;

CREATE TRIGGER phones_create_states AFTER INSERT ON phones
    REFERENCING NEW TABLE AS created FOR EACH STATEMENT EXECUTE FUNCTION create_phone_states();
CREATE TRIGGER phones_copy_to_state AFTER UPDATE OF group_name, enabled ON phones
    FOR EACH ROW WHEN (OLD.group_name IS DISTINCT FROM NEW.group_name OR OLD.enabled IS DISTINCT FROM NEW.enabled)
    EXECUTE FUNCTION copy_phone_to_state();

DROP VIEW pool_states;
ALTER TABLE phones DROP COLUMN released_at, DROP COLUMN allocation_id, DROP COLUMN expires_at;
DROP INDEX allocations_open_phone_uq, allocations_phone_history_idx, allocations_traffic_idx;
ALTER TABLE allocations DROP COLUMN phone_id, DROP COLUMN phone_number, ADD CHECK (kind = 'dtmf');

-- A phone is allocated while its allocation has not expired (whether or not the release job
-- has run), free when enabled and not allocated, disabled when neither.
CREATE VIEW pool_states AS
SELECT scope_id, group_name,
       count(*) FILTER (WHERE held AND expires_at > now()) AS allocated,
       count(*) FILTER (WHERE enabled AND NOT (held AND expires_at > now())) AS free,
       count(*) FILTER (WHERE NOT enabled AND NOT (held AND expires_at > now())) AS disabled
FROM phone_states
GROUP BY scope_id, group_name;

-- A tenant's history goes with its scopes (phone_history has no foreign key, see above).
CREATE FUNCTION forget_scope_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM phone_history h USING gone g WHERE h.scope_id = g.scope_id;
    RETURN NULL;
END $$;
CREATE TRIGGER scopes_forget_history AFTER DELETE ON scopes
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION forget_scope_history();

-- Ending a DTMF code's allocation (codes have no phone row any more); see 0006.
CREATE OR REPLACE FUNCTION end_allocation(p_allocation_id bigint, p_reason text)
RETURNS TABLE (kind text, group_name text, end_reason text, held_seconds float8)
LANGUAGE sql VOLATILE AS $$
    UPDATE allocations
    SET ended_at = least(c.now, expires_at),
        end_reason = CASE WHEN expires_at <= c.now THEN 'expired' ELSE p_reason END
    FROM (SELECT clock_timestamp() AS now) c
    WHERE allocation_id = p_allocation_id AND ended_at IS NULL
    RETURNING kind, group_name, end_reason, extract(epoch FROM ended_at - allocated_at)::float8
$$;

-- Ends the allocation of phone p_phone_id that began at p_allocated_at, if it is still held, and
-- records it in the history; one row if it did. The allocation is named by its start so that a
-- caller that read the holder without a lock ends that allocation or nothing: when the phone
-- changed hands meanwhile, no row, and the caller reads again. It needs no lock held: the UPDATE
-- rechecks the row it waited for. An allocation past its expiry ends as 'expired' at its expiry,
-- whoever ends it, so the history stays exact; the end is stamped on the clock, after the lock.
CREATE FUNCTION end_phone_allocation(p_phone_id bigint, p_allocated_at timestamptz, p_reason text)
RETURNS TABLE (scope_id integer, phone_number text, unique_id text, kind text, group_name text,
               end_reason text, held_seconds float8)
LANGUAGE sql VOLATILE AS $$
    WITH ended AS (
        UPDATE phone_states s SET held = false, released_at = least(c.now, s.expires_at)
        FROM (SELECT clock_timestamp() AS now) c
        WHERE s.phone_id = p_phone_id AND s.held AND s.allocated_at = p_allocated_at
        RETURNING s.phone_id, s.scope_id, s.group_name, s.unique_id, s.allocated_at, s.expires_at, s.released_at,
                  CASE WHEN s.expires_at <= c.now THEN 'expired' ELSE p_reason END AS end_reason
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

-- Allocates a phone of scope p_scope to interaction p_uid, in group p_group (NULL: any), for
-- p_timeout seconds, as one statement. Its rows, by outcome:
--   'held'    the interaction holds a live phone (of that group) already: that one (idempotent);
--   'new'     the phone now allocated to it: the least recently released free phone, free for
--             p_quarantine seconds at least; else the one whose allocation expired longest ago
--             (the release job may not have ended it yet: expiry is exact regardless);
--   'ended'   an allocation ended on the way: the interaction's own expired ones, or the expired
--             one a phone was taken over from (for the release metrics);
-- and neither 'held' nor 'new' when no phone is available; that refusal is counted for pool
-- sizing (0008), in one of 8 slots by session.
-- Lock order: the interaction id (an advisory lock, so that concurrent requests for one id take
-- one phone between them), then its row, then phone rows. A free phone's lock is only ever taken
-- with SKIP LOCKED, so nothing waits for it holding an interaction's lock.
-- An allocation starts on the clock once its phone is locked, and expires from that instant: the
-- statement's start, now(), may predate the end of the phone's previous allocation.
CREATE FUNCTION allocate_phone(p_scope integer, p_uid text, p_group text, p_quarantine float8, p_timeout float8)
RETURNS TABLE (outcome text, phone_number text, dn_id text, group_name text, allocated_at timestamptz,
               expires_at timestamptz, end_reason text, held_seconds float8)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    taken phone_states;
BEGIN
    PERFORM pg_advisory_xact_lock(p_scope, hashtext(p_uid));
    -- An interaction with a row is active again, and touched (at most hourly) against retention.
    UPDATE interactions SET state = 'active', updated_at = now()
    WHERE scope_id = p_scope AND unique_id = p_uid AND (state <> 'active' OR updated_at < now() - interval '1 hour');

    RETURN QUERY
        SELECT 'ended', e.phone_number, NULL::text, e.group_name, NULL::timestamptz, NULL::timestamptz,
               e.end_reason, e.held_seconds
        FROM phone_states s CROSS JOIN LATERAL end_phone_allocation(s.phone_id, s.allocated_at, 'expired') e
        WHERE s.scope_id = p_scope AND s.unique_id = p_uid AND s.held AND s.expires_at <= now();

    RETURN QUERY
        SELECT 'held', p.phone_number, p.dn_id, s.group_name, s.allocated_at, s.expires_at, NULL::text, NULL::float8
        FROM phone_states s JOIN phones p ON p.phone_id = s.phone_id
        WHERE s.scope_id = p_scope AND s.unique_id = p_uid AND s.held AND (p_group IS NULL OR s.group_name = p_group)
        ORDER BY s.allocated_at DESC
        LIMIT 1;
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT * INTO taken FROM phone_states s
    WHERE s.scope_id = p_scope AND s.enabled AND NOT s.held
      AND s.released_at <= now() - make_interval(secs => p_quarantine)
      AND (p_group IS NULL OR s.group_name = p_group)
    ORDER BY s.released_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT * INTO taken FROM phone_states s
        WHERE s.scope_id = p_scope AND s.enabled AND s.held
          AND s.expires_at <= now() - make_interval(secs => p_quarantine)
          AND (p_group IS NULL OR s.group_name = p_group)
        ORDER BY s.expires_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            INSERT INTO pool_traffic_hours AS t (scope_id, group_name, hour, slot, refusals)
            VALUES (p_scope, coalesce(p_group, ''), date_trunc('hour', now(), 'UTC'), pg_backend_pid() % 8, 1)
            ON CONFLICT (scope_id, group_name, hour, slot) DO UPDATE SET refusals = t.refusals + 1;
            RETURN;
        END IF;
        RETURN QUERY
            SELECT 'ended', e.phone_number, NULL::text, e.group_name, NULL::timestamptz, NULL::timestamptz,
                   e.end_reason, e.held_seconds
            FROM end_phone_allocation(taken.phone_id, taken.allocated_at, 'expired') e;
    END IF;

    RETURN QUERY
        WITH claimed AS (
            UPDATE phone_states s
            SET held = true, unique_id = p_uid,
                (allocated_at, expires_at) = (SELECT c, c + make_interval(secs => p_timeout) FROM clock_timestamp() c)
            WHERE s.phone_id = taken.phone_id
            RETURNING s.phone_id, s.group_name, s.allocated_at, s.expires_at
        )
        SELECT 'new', p.phone_number, p.dn_id, c.group_name, c.allocated_at, c.expires_at, NULL::text, NULL::float8
        FROM claimed c JOIN phones p ON p.phone_id = c.phone_id;
END $$;
