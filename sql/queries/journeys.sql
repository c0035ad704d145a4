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
-- Its tokens and call records go with it: a campaign created again later under the same id
-- starts afresh.
WITH deleted AS (
    DELETE FROM campaigns WHERE scope_id = $1 AND campaign_id = $2 RETURNING campaign_id
), tokens AS (
    DELETE FROM journey_tokens t USING deleted d
    WHERE t.scope_id = $1 AND t.target_kind = 'campaign' AND t.target_id = d.campaign_id
), calls AS (
    DELETE FROM incoming_calls c USING deleted d
    WHERE c.scope_id = $1 AND c.target_kind = 'campaign' AND c.target_id = d.campaign_id
)
SELECT campaign_id FROM deleted

-- name: list_campaigns
SELECT campaign_id, sms_text, sms_from, token_ttl_seconds FROM campaigns WHERE scope_id = $1 ORDER BY campaign_id

-- name: get_campaign
SELECT campaign_id, sms_text, sms_from, token_ttl_seconds FROM campaigns WHERE scope_id = $1 AND campaign_id = $2

-- name: interaction_exists
-- With a row, or known only by the live phones it holds (0009).
SELECT EXISTS (SELECT 1 FROM interactions WHERE scope_id = $1 AND unique_id = $2)
    OR EXISTS (SELECT 1 FROM phone_states
               WHERE scope_id = $1 AND unique_id = $2 AND held AND expires_at > now())

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
