-- The event search where its matches are rare and it has no time range: a kind that seldom
-- happens (`door.forced`), a denial reason. Newest first by ingest number, such a search read
-- every day partition (485–733 ms at three days of 1,000,000 events, `npm run bench -- search`).
-- Two partial indexes give it an ordered path; both leave out the kinds a site stores by the
-- thousand every hour, so the ingest adds an entry for a few events in a hundred only.
CREATE INDEX events_rare_kind ON events (kind, ingest_no)
  WHERE kind NOT IN ('access.granted', 'door.unlocked', 'door.opened', 'door.closed', 'door.locked',
                     'room.occupancy', 'video.segment', 'gateway.heartbeat');
CREATE INDEX events_reason ON events ((data ->> 'reason'), ingest_no) WHERE (data ->> 'reason') IS NOT NULL;

-- Kind, site and reason go together (a reason belongs to denials and to gateways going offline),
-- and the planner, which multiplies their shares, then took the reason index for rare and read
-- every denial. Statistics of their common values, on each day partition, tell it how they go
-- together. A partition gets them when it is created; ANALYZE (autovacuum's) fills them.
CREATE FUNCTION identgate_event_partition_statistics(part regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE STATISTICS IF NOT EXISTS %I (mcv) ON kind, site, (data ->> ''reason'') FROM %s',
                 (SELECT relname FROM pg_class WHERE oid = part) || '_search', part);
END $$;

CREATE OR REPLACE FUNCTION identgate_ensure_event_partitions(first_day date, last_day date) RETURNS integer
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
        PERFORM identgate_event_partition_statistics(name::regclass);
        created := created + 1;
      EXCEPTION WHEN duplicate_table THEN
        NULL; -- another instance created it first
      END;
    END IF;
    day := day + 1;
  END LOOP;
  RETURN created;
END $$;

-- The partitions there are already: days past are seldom written again, so autovacuum would not
-- analyze them for a long time, and their statistics would stay empty.
SELECT identgate_event_partition_statistics(inhrelid::regclass)
  FROM pg_inherits WHERE inhparent = 'events'::regclass;
ANALYZE events;
