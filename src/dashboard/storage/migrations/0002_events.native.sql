-- Access and door events, partitioned by day on the gateway's occurrence time (native
-- declarative partitioning; the TimescaleDB variant of this migration sits beside it).
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
) PARTITION BY RANGE (occurred_at);

CREATE INDEX events_occurred_at ON events (occurred_at DESC);
CREATE INDEX events_ingest_no ON events (ingest_no);
CREATE INDEX events_gateway_seq ON events (gateway, seq);

-- One partition per UTC day, created ahead by the maintenance job and on demand by the ingest.
CREATE FUNCTION identgate_ensure_event_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  day date := first_day;
  created integer := 0;
  name text;
BEGIN
  WHILE day <= last_day LOOP
    name := format('events_p%s', to_char(day, 'YYYYMMDD'));
    IF to_regclass(name) IS NULL THEN
      BEGIN
        EXECUTE format(
          'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
          name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        created := created + 1;
      EXCEPTION WHEN duplicate_table THEN
        NULL; -- another instance created it first
      END;
    END IF;
    day := day + 1;
  END LOOP;
  RETURN created;
END $$;
