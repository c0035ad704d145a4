-- name: insert_campaign
INSERT INTO campaigns (scope_id, campaign_id, sms_text, sms_from, token_ttl_seconds)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING campaign_id

-- name: update_campaign
UPDATE campaigns SET sms_text = $3, sms_from = $4, token_ttl_seconds = $5, updated_at = now()
WHERE scope_id = $1 AND campaign_id = $2
RETURNING campaign_id

-- name: delete_campaign
DELETE FROM campaigns WHERE scope_id = $1 AND campaign_id = $2 RETURNING campaign_id

-- name: list_campaigns
SELECT campaign_id, sms_text, sms_from, token_ttl_seconds FROM campaigns WHERE scope_id = $1 ORDER BY campaign_id

-- name: get_campaign
SELECT campaign_id, sms_text, sms_from, token_ttl_seconds FROM campaigns WHERE scope_id = $1 AND campaign_id = $2

-- name: interaction_exists
SELECT EXISTS (SELECT 1 FROM interactions WHERE scope_id = $1 AND unique_id = $2)

-- name: insert_token
INSERT INTO journey_tokens (scope_id, jp_token, target_kind, target_id, caller_id, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
ON CONFLICT DO NOTHING
RETURNING expires_at

-- name: token_of_target
SELECT expires_at > now() AS live FROM journey_tokens
WHERE scope_id = $1 AND jp_token = $2 AND target_kind = $3 AND target_id = $4

-- name: count_incoming_call
INSERT INTO incoming_calls (scope_id, jp_token, caller_id, target_kind, target_id, calls_count, first_call_at,
                            last_call_at)
VALUES ($1, $2, $3, $4, $5, 1, now(), now())
ON CONFLICT (scope_id, target_kind, target_id, jp_token, caller_id) DO UPDATE
SET calls_count = incoming_calls.calls_count + 1, last_call_at = now(), updated_at = now(),
    first_call_at = coalesce(incoming_calls.first_call_at, now())

-- name: mark_sms_sent
INSERT INTO incoming_calls (scope_id, jp_token, caller_id, target_kind, target_id, sms_sent)
VALUES ($1, $2, $3, $4, $5, true)
ON CONFLICT (scope_id, target_kind, target_id, jp_token, caller_id) DO UPDATE
SET sms_sent = true, updated_at = now()

-- name: deflection_report
SELECT jp_token, caller_id, calls_count, sms_sent, first_call_at, last_call_at
FROM incoming_calls
WHERE scope_id = $1 AND target_kind = $2 AND target_id = $3
  AND updated_at >= coalesce($4, '-infinity'::timestamptz) AND updated_at < coalesce($5, 'infinity'::timestamptz)
ORDER BY jp_token, caller_id
LIMIT $6

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
