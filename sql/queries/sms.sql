-- name: tenant_sms_provider
SELECT t.sms_provider FROM tenants t JOIN scopes s ON s.tenant_id = t.tenant_id WHERE s.scope_id = $1

-- name: queue_sms
INSERT INTO sms_outbox (message_sid, scope_id, campaign_id, to_number, from_number, body, additional_params)
VALUES ($1, $2, $3, $4, $5, $6, $7)

-- name: claim_due_sms
-- A lease, not a lock: the row is pushed into the future while it is being sent, so no
-- transaction stays open across the provider call, and a crash mid-send only delays it.
UPDATE sms_outbox o
SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
FROM (SELECT message_sid FROM sms_outbox
      WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
      ORDER BY next_attempt_at
      LIMIT $1
      FOR UPDATE SKIP LOCKED) due, scopes s, tenants t
WHERE o.message_sid = due.message_sid AND s.scope_id = o.scope_id AND t.tenant_id = s.tenant_id
RETURNING o.message_sid, o.to_number, o.from_number, o.body, o.additional_params, o.attempts, t.sms_provider

-- name: sms_delivered
UPDATE sms_outbox SET delivered_at = now(), last_error = NULL WHERE message_sid = $1

-- name: sms_retry_later
UPDATE sms_outbox SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3 WHERE message_sid = $1

-- name: sms_refused
UPDATE sms_outbox SET failed_at = now(), last_error = $2 WHERE message_sid = $1

-- name: sms_pending_count
SELECT count(*) FROM sms_outbox WHERE delivered_at IS NULL AND failed_at IS NULL
