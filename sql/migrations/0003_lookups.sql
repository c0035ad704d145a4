-- The two interaction attributes that lookups search, with when each was last set
-- (the most recently set value wins when two interactions share one).

ALTER TABLE interactions
    ADD COLUMN history_search_id   text CHECK (length(history_search_id) BETWEEN 1 AND 256),
    ADD COLUMN history_search_set_at timestamptz,
    ADD COLUMN call_return_number  text CHECK (call_return_number ~ '^[0-9]{1,20}$'),
    ADD COLUMN call_return_set_at  timestamptz;

CREATE INDEX interactions_history_search_idx
    ON interactions (scope_id, history_search_id, history_search_set_at DESC) WHERE history_search_id IS NOT NULL;
CREATE INDEX interactions_call_return_idx
    ON interactions (scope_id, call_return_number, call_return_set_at DESC) WHERE call_return_number IS NOT NULL;
-- Listing the active interactions of a scope, newest first.
CREATE INDEX interactions_active_idx ON interactions (scope_id, created_at DESC, unique_id DESC)
    WHERE state = 'active';
-- Lookups by DTMF code hit the open-code unique index; by phone, the phones table.
