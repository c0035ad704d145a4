-- name: authenticate
-- One round trip: the key's application, scope and tenant policy, and the user's hash if asked.
SELECT s.scope_id, s.tenant_id, s.environment, a.kind,
       t.default_timeout_seconds, t.max_timeout_seconds, t.quarantine_seconds, t.dtmf_digits,
       u.password_hash
FROM applications a
JOIN scopes s ON s.scope_id = a.scope_id
JOIN tenants t ON t.tenant_id = s.tenant_id
LEFT JOIN users u ON u.tenant_id = s.tenant_id AND u.user_id = $2
WHERE a.key_digest = $1

-- name: listener_ping
-- The listening connection is alive, and its server still takes writes (not a standby, not a
-- primary fenced read-only): only the primary's notifications tell of credential changes.
SELECT current_setting('transaction_read_only') = 'off'
