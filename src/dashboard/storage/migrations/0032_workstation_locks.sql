-- Owed locks: a lock on leave stays owed until the workstation's agent reports that it locked.
-- Until then any dashboard instance sends it again (a new command each time, the wait doubling),
-- raises a critical `workstation-lock-failed` alarm after `workstations.lockAttempts` sends
-- without an answer, and gives up after `workstations.lockRetryHours`. Personal data (who left
-- which workstation): a row lives until the lock is confirmed or given up (hours), and the
-- deletion of the person (an erasure) leaves the row without the person, so the workstation is
-- still locked, naming nobody.
CREATE TABLE workstation_locks (
  id             uuid PRIMARY KEY,
  workstation_id text NOT NULL REFERENCES workstations (id) ON DELETE CASCADE,
  person_id      text REFERENCES people (id) ON DELETE SET NULL,
  reason         text NOT NULL,
  owed_since     timestamptz NOT NULL,
  -- Every command sent for this lock, the latest last: an `ok` for any of them settles it.
  commands       uuid[] NOT NULL,
  sent_at        timestamptz NOT NULL,
  attempts       integer NOT NULL CHECK (attempts >= 1),
  alarmed        boolean NOT NULL DEFAULT false
);
CREATE INDEX workstation_locks_workstation ON workstation_locks (workstation_id, owed_since);
CREATE INDEX workstation_locks_person ON workstation_locks (person_id);
