-- name: lookup_history_search_id
SELECT unique_id FROM interactions
WHERE scope_id = $1 AND history_search_id = $2 AND history_search_set_at > now() - make_interval(days => $3)
ORDER BY history_search_set_at DESC
LIMIT 1

-- name: lookup_call_return_number
SELECT unique_id FROM interactions
WHERE scope_id = $1 AND call_return_number = $2 AND call_return_set_at > now() - make_interval(days => $3)
ORDER BY call_return_set_at DESC
LIMIT 1

-- name: lookup_dtmf_code
SELECT unique_id FROM allocations
WHERE scope_id = $1 AND kind = 'dtmf' AND dtmf_code = $2 AND ended_at IS NULL AND expires_at > now()
