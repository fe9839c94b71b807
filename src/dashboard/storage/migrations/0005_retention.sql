-- Retention: policies per data class and scope, legal holds, the deletion log, and the indexes
-- the dashboard's, the auditors' and the retention job's queries use.

-- Days to keep one data class, for everything (global), one customer's sites or one site. The
-- most specific row wins; without any row the configured default (retention.defaultDays) holds.
-- The data classes are defined in code (src/controllers/retention/data-classes.ts).
CREATE TABLE retention_policies (
  data_class text NOT NULL,
  scope      text NOT NULL CHECK (scope IN ('global', 'customer', 'site')),
  scope_id   text NOT NULL DEFAULT '',
  days       integer NOT NULL CHECK (days BETWEEN 1 AND 3650),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL,
  PRIMARY KEY (data_class, scope, scope_id),
  CHECK ((scope = 'global') = (scope_id = ''))
);

-- Data of a site (or of every site) in a time span that retention must not delete until the
-- hold is released. `reason` is a case reference, not a name.
CREATE TABLE legal_holds (
  id          bigserial PRIMARY KEY,
  site        text,
  held_from   timestamptz NOT NULL,
  held_to     timestamptz NOT NULL,
  reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  released_at timestamptz,
  released_by text,
  CHECK (held_to > held_from),
  CHECK ((released_at IS NULL) = (released_by IS NULL))
);
CREATE INDEX legal_holds_active ON legal_holds (held_from) WHERE released_at IS NULL;

-- What each retention run (or erasure) deleted: class, scope, span, count, method, duration.
-- Never personal data: no person, badge or event ids, no payloads.
CREATE TABLE deletion_log (
  id          bigserial PRIMARY KEY,
  run_id      uuid NOT NULL,
  started_at  timestamptz NOT NULL,
  data_class  text NOT NULL,
  scope       text NOT NULL,
  site        text,
  span_from   timestamptz,
  span_to     timestamptz,
  deleted     bigint NOT NULL CHECK (deleted >= 0),
  method      text NOT NULL CHECK (method IN ('partition-drop', 'delete', 'erase')),
  duration_ms integer NOT NULL CHECK (duration_ms >= 0),
  dry_run     boolean NOT NULL
);
CREATE INDEX deletion_log_run ON deletion_log (run_id);
CREATE INDEX deletion_log_started_at ON deletion_log (started_at);

-- The highest sequence number of each gateway whose event retention deleted: a later payload
-- with a number up to here is a replay, even though its event_sequences row is gone.
ALTER TABLE gateway_sequences ADD COLUMN retired_through bigint;

-- Events: B-trees, not BRIN. Day partitions (or 1-day chunks) already give the coarse time
-- pruning BRIN would; the dashboard and the auditors ask for the newest N of a site, door or
-- person, which needs ordered index scans BRIN cannot give; and resent events break the
-- physical time order BRIN relies on. (site, occurred_at) also lets the retention job list a
-- partition's sites by skipping through the index and delete one site's expired rows by range.
CREATE INDEX events_site_time ON events (site, occurred_at);
CREATE INDEX events_door_time ON events (site, door, occurred_at) WHERE door IS NOT NULL;
CREATE INDEX events_person_time ON events (person, occurred_at) WHERE person IS NOT NULL;
CREATE INDEX events_badge_time ON events ((data ->> 'badge'), occurred_at) WHERE data ? 'badge';
-- Footage links by the event they belong to (erasure removes them with the event).
CREATE INDEX events_footage_link ON events ((data ->> 'event')) WHERE kind = 'video.footage-linked';

-- Alarms expire by their last activity; the dashboard lists them by state (alarms_state) and site.
CREATE INDEX alarms_last_activity ON alarms ((greatest(raised_at, last_seen_at, cleared_at, acknowledged_at)));
CREATE INDEX alarms_site_raised ON alarms (site, raised_at DESC);
