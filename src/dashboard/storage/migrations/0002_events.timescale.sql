-- Access and door events as a TimescaleDB hypertable with 1-day chunks (the native
-- partitioning variant of this migration sits beside it).
CREATE TABLE events (
  id             uuid        NOT NULL,
  occurred_at    timestamptz NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  ingest_no      bigserial   NOT NULL,
  schema_version smallint    NOT NULL,
  site           text        NOT NULL,
  gateway        text        NOT NULL,
  seq            bigint      NOT NULL,
  kind           text        NOT NULL,
  door           text,
  person         text,
  data           jsonb       NOT NULL,
  signature      text        NOT NULL,
  PRIMARY KEY (id, occurred_at)
);
SELECT create_hypertable('events', by_range('occurred_at', INTERVAL '1 day'));

CREATE INDEX events_ingest_no ON events (ingest_no);
CREATE INDEX events_gateway_seq ON events (gateway, seq);

-- Chunks are created by TimescaleDB itself; the function exists so that callers need not care.
CREATE FUNCTION identgate_ensure_event_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE sql AS $$ SELECT 0 $$;
