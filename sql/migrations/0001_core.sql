-- Core schema: tenants and their environments (scopes), credentials, the phone pool,
-- allocations (live and history) and interactions.

CREATE TABLE tenants (
    tenant_id               text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name                    text,
    default_timeout_seconds integer CHECK (default_timeout_seconds > 0),
    max_timeout_seconds     integer CHECK (max_timeout_seconds > 0),
    quarantine_seconds      integer NOT NULL DEFAULT 0 CHECK (quarantine_seconds >= 0),
    dtmf_digits             integer NOT NULL DEFAULT 6 CHECK (dtmf_digits BETWEEN 4 AND 8),
    sms_provider            jsonb,
    created_at              timestamptz NOT NULL DEFAULT now()
);

-- A scope is one (tenant, environment); every pool row hangs off one, so that queries
-- filter on one small integer. The environment 'default' stands for "no Environment-Name".
CREATE TABLE scopes (
    scope_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment ~ '^[A-Za-z0-9_.-]{1,64}$'),
    UNIQUE (tenant_id, environment)
);

CREATE TABLE applications (
    application_id uuid PRIMARY KEY,
    scope_id       integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('web', 'dnis', 'public')),
    name           text,
    key_digest     bytea NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id       text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

-- The live allocation of a phone is mirrored here (allocation_id, expires_at) so that the
-- allocation query picks from partial indexes of this one table. released_at orders the pool
-- least-recently-released first.
CREATE TABLE phones (
    phone_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_id      integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    phone_number  text NOT NULL UNIQUE CHECK (phone_number ~ '^[0-9]{1,20}$'),
    dn_id         text CHECK (length(dn_id) BETWEEN 1 AND 32),
    group_name    text NOT NULL DEFAULT '' CHECK (length(group_name) <= 64),
    enabled       boolean NOT NULL DEFAULT true,
    released_at   timestamptz NOT NULL DEFAULT '-infinity',
    allocation_id bigint,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scope_id, dn_id),
    CHECK ((allocation_id IS NULL) = (expires_at IS NULL))
) WITH (fillfactor = 80);

-- Free, enabled phones in least-recently-released order, for "any group" and for one group.
CREATE INDEX phones_free_idx ON phones (scope_id, released_at)
    WHERE enabled AND allocation_id IS NULL;
CREATE INDEX phones_free_group_idx ON phones (scope_id, group_name, released_at)
    WHERE enabled AND allocation_id IS NULL;
-- Held phones by expiry: reclaiming an expired allocation and the release job.
CREATE INDEX phones_held_idx ON phones (scope_id, expires_at)
    WHERE allocation_id IS NOT NULL;
CREATE INDEX phones_expiry_idx ON phones (expires_at)
    WHERE allocation_id IS NOT NULL;

CREATE TABLE interactions (
    scope_id   integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    unique_id  text NOT NULL CHECK (length(unique_id) BETWEEN 1 AND 128),
    state      text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'completed', 'cancelled')),
    user_data  jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_id, unique_id)
);

-- Every allocation, live (ended_at IS NULL) or ended, kept for the retention period.
-- phone_number is copied so that history survives the phone's deletion.
CREATE TABLE allocations (
    allocation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope_id      integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('phone', 'dtmf')),
    phone_id      bigint REFERENCES phones ON DELETE SET NULL,
    phone_number  text,
    dtmf_code     text,
    group_name    text NOT NULL DEFAULT '',
    unique_id     text NOT NULL CHECK (length(unique_id) BETWEEN 1 AND 128),
    allocated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    end_reason    text CHECK (end_reason IN ('freed', 'expired', 'completed', 'cancelled', 'deleted')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (expires_at > allocated_at),
    CHECK ((kind = 'phone') = (phone_number IS NOT NULL)),
    CHECK ((kind = 'dtmf') = (dtmf_code IS NOT NULL))
);

-- The constraints that make double allocation impossible, whatever the timing:
-- a phone has at most one open allocation, a DTMF code at most one per scope,
-- and an interaction at most one open phone allocation per group and one open code.
CREATE UNIQUE INDEX allocations_open_phone_uq ON allocations (phone_id)
    WHERE ended_at IS NULL AND kind = 'phone';
CREATE UNIQUE INDEX allocations_open_code_uq ON allocations (scope_id, dtmf_code)
    WHERE ended_at IS NULL AND kind = 'dtmf';
CREATE UNIQUE INDEX allocations_open_holder_uq ON allocations (scope_id, unique_id, kind, group_name)
    WHERE ended_at IS NULL;
CREATE INDEX allocations_phone_history_idx ON allocations (phone_number, allocated_at)
    WHERE kind = 'phone';
CREATE INDEX allocations_allocated_at_idx ON allocations (allocated_at);
CREATE INDEX allocations_code_history_idx ON allocations (scope_id, dtmf_code)
    WHERE kind = 'dtmf';
