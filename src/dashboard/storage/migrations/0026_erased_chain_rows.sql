-- What an erasure did to the tamper-evident log, so that `audit verify` accepts exactly that and
-- nothing else. Until now an erasure's deletion-log rows (no site, no span) were taken to cover
-- every missing event and alarm of every chain, at any time: after one erasure, any deleted row
-- verified.
--
-- One row per chain row whose source an erasure deleted (`redacted` null) or rewrote (`redacted`
-- the source's content digest as the erasure left it: an event whose two-person-rule companion
-- was the erased person). A chain name and a row number: nothing about the person, and not
-- grouped by erasure, so that it cannot be joined with a request's reference to list where and
-- when the erased person went.
CREATE TABLE erased_chain_rows (
  site     text   NOT NULL,
  no       bigint NOT NULL,
  redacted bytea,
  PRIMARY KEY (site, no)
);

-- Erasures logged before this migration listed no rows. `audit verify` accepts a missing event
-- or alarm under one only if its row joined the chain no later than the erasure (the time its
-- `person.erase` entry joined the chain; the erasure's start where that entry has no chain row),
-- and no more such rows than the erasure deleted of that class.
CREATE TABLE unlisted_erasures (
  run_id     uuid        NOT NULL,
  data_class text        NOT NULL,
  erased_at  timestamptz NOT NULL,
  deleted    bigint      NOT NULL,
  PRIMARY KEY (run_id, data_class)
);

INSERT INTO unlisted_erasures (run_id, data_class, erased_at, deleted)
SELECT d.run_id, d.data_class,
       coalesce((SELECT max(c.added_at) FROM audit_log l
                   JOIN audit_chain c ON c.source = 'audit' AND c.ref = l.id::text
                  WHERE l.action = 'person.erase' AND l.details ->> 'runId' = d.run_id::text),
                d.started_at),
       d.deleted
  FROM deletion_log d
 WHERE d.method = 'erase' AND NOT d.dry_run AND d.data_class IN ('access-events', 'video', 'alarms')
ON CONFLICT (run_id, data_class) DO UPDATE SET deleted = unlisted_erasures.deleted + EXCLUDED.deleted;
