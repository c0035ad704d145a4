-- Journey tokens, incoming-call counts (deflection report) and the SMS outbox.

CREATE TABLE campaigns (
    scope_id          integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    campaign_id       text NOT NULL CHECK (length(campaign_id) BETWEEN 1 AND 128),
    sms_text          text NOT NULL CHECK (length(sms_text) BETWEEN 1 AND 1600),
    sms_from          text,
    token_ttl_seconds integer NOT NULL DEFAULT 86400 CHECK (token_ttl_seconds > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_id, campaign_id)
);

CREATE TABLE journey_tokens (
    scope_id    integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    jp_token    text NOT NULL CHECK (jp_token ~ '^[A-Za-z0-9]{7}$'),
    target_kind text NOT NULL CHECK (target_kind IN ('campaign', 'interaction')),
    target_id   text NOT NULL,
    caller_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (scope_id, jp_token)
);
CREATE INDEX journey_tokens_expiry_idx ON journey_tokens (expires_at);

-- One record per (jpToken, callerId, target): the count is incremented in place, atomically.
CREATE TABLE incoming_calls (
    scope_id       integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    jp_token       text NOT NULL,
    caller_id      text NOT NULL,
    target_kind    text NOT NULL CHECK (target_kind IN ('campaign', 'interaction')),
    target_id      text NOT NULL,
    calls_count    integer NOT NULL DEFAULT 0 CHECK (calls_count >= 0),
    sms_sent       boolean NOT NULL DEFAULT false,
    first_call_at  timestamptz,
    last_call_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope_id, target_kind, target_id, jp_token, caller_id)
);
-- The report: one target's records in a time window.
CREATE INDEX incoming_calls_report_idx ON incoming_calls (scope_id, target_kind, target_id, updated_at);

-- Messages to hand to the tenant's SMS provider; a row leaves only once delivered or refused.
CREATE TABLE sms_outbox (
    message_sid       text PRIMARY KEY CHECK (message_sid ~ '^SM[0-9a-f]{32}$'),
    scope_id          integer NOT NULL REFERENCES scopes ON DELETE CASCADE,
    campaign_id       text NOT NULL,
    to_number         text NOT NULL,
    from_number       text,
    body              text NOT NULL,
    additional_params text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    failed_at         timestamptz,
    last_error        text
);
CREATE INDEX sms_outbox_due_idx ON sms_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
