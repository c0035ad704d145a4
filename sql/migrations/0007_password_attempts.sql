-- Recent password attempts per (tenant, user), shared by every replica, so that guessing a user's
-- password is throttled however many replicas the guesses are spread over
-- (dnis_service/domain/password_throttle.py). A row holds at most the throttle's limit of
-- timestamps, oldest first: the failures within the window, and the checks still running.
-- The user is kept as the SHA-256 of the User-Id, so that any header value fits the key, and
-- unknown user ids are throttled exactly like known ones. The retention job deletes rows whose
-- newest attempt has left the window.
CREATE TABLE password_attempts (
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_digest  bytea NOT NULL,
    attempted_at timestamptz[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, user_digest)
);

-- Claims one attempt for (tenant, user) at p_now, unless p_limit attempts already lie within
-- p_window before it. Claimed: (p_now, NULL). Refused: (NULL, seconds until the oldest of them
-- leaves the window). A refused claim only reads, so a flood of refused attempts writes nothing;
-- a claim takes the row lock and counts again, so replicas claiming together never exceed the
-- limit. VOLATILE: each statement sees what concurrent transactions committed before it ran.
CREATE FUNCTION claim_password_attempt(
    p_tenant_id text, p_user_digest bytea, p_limit integer, p_window interval, p_now timestamptz
) RETURNS TABLE (claimed_at timestamptz, retry_after_seconds float8)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    recent timestamptz[];
BEGIN
    SELECT ARRAY(SELECT a FROM unnest(pa.attempted_at) a WHERE a > p_now - p_window ORDER BY a) INTO recent
    FROM password_attempts pa WHERE pa.tenant_id = p_tenant_id AND pa.user_digest = p_user_digest;
    IF coalesce(cardinality(recent), 0) < p_limit THEN
        INSERT INTO password_attempts (tenant_id, user_digest) VALUES (p_tenant_id, p_user_digest)
        ON CONFLICT DO NOTHING;
        SELECT ARRAY(SELECT a FROM unnest(pa.attempted_at) a WHERE a > p_now - p_window ORDER BY a) INTO recent
        FROM password_attempts pa WHERE pa.tenant_id = p_tenant_id AND pa.user_digest = p_user_digest
        FOR UPDATE;
        IF cardinality(recent) < p_limit THEN
            UPDATE password_attempts
            SET attempted_at = ARRAY(SELECT a FROM unnest(recent || p_now) a ORDER BY a)
            WHERE tenant_id = p_tenant_id AND user_digest = p_user_digest;
            RETURN QUERY SELECT p_now, NULL::float8;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT NULL::timestamptz,
                        greatest(extract(epoch FROM recent[cardinality(recent) - p_limit + 1] + p_window - p_now), 0)::float8;
END
$$;
