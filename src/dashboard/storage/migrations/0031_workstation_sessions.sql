-- Lock on leave across restarts and dashboard instances: which people each workstation was told
-- it may let log in, until their presence ends. Whichever instance deletes a row sends that
-- workstation its lock, so it is sent once, by any instance, also after a restart. Personal data
-- (who was at which workstation when): a row lives until the person's presence ends (a shift at
-- most, unless renewed), the `presence` retention class removes any older than its period, and an
-- erasure (or any deletion of the person) leaves the row without the person, so that the
-- workstation is still locked, naming nobody.
CREATE TABLE workstation_sessions (
  workstation_id text NOT NULL REFERENCES workstations (id) ON DELETE CASCADE,
  person_id      text REFERENCES people (id) ON DELETE SET NULL,
  allowed_at     timestamptz NOT NULL
);
-- One row per person and workstation; rows without a person (erased) never conflict.
CREATE UNIQUE INDEX workstation_sessions_person ON workstation_sessions (workstation_id, person_id);
CREATE INDEX workstation_sessions_by_person ON workstation_sessions (person_id);
