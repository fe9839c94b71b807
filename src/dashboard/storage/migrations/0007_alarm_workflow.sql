-- The alarm workflow: active → acknowledged (by security staff, with a comment) → resolved (by
-- security staff, with a comment, once the condition has cleared). Until now an acknowledged
-- alarm was resolved automatically when its condition cleared; from here on a person resolves it.
ALTER TABLE alarms
  ADD COLUMN resolved_at     timestamptz,
  ADD COLUMN resolved_by     text,
  ADD COLUMN resolve_comment text;

-- Alarms resolved automatically before this migration: their resolution time is their clearing.
UPDATE alarms SET resolved_at = cleared_at WHERE state = 'resolved' AND resolved_at IS NULL;

-- Listing newest first by id, filtered by state (the alarm page and its pagination).
CREATE INDEX alarms_state_id ON alarms (state, id DESC);
