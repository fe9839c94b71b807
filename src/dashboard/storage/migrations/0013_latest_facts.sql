-- The newest event per fact of the live overview (a door's lock and contact, a room's occupancy,
-- a gateway's life, a camera's state …), written by the ingest in the same transaction as the
-- events, so that the overview reads a few rows instead of a week of events. `data` holds only
-- the fields the overview uses (door lists, flags, counts, technical reasons): no person, no badge.
CREATE TABLE latest_facts (
  site        text        NOT NULL,
  gateway     text        NOT NULL,
  facet       text        NOT NULL,
  subject     text        NOT NULL,
  kind        text        NOT NULL,
  occurred_at timestamptz NOT NULL,
  ingest_no   bigint      NOT NULL,
  data        jsonb       NOT NULL DEFAULT '{}',
  PRIMARY KEY (site, gateway, facet, subject)
);
