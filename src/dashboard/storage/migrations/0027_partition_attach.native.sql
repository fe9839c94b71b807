-- A day partition is created as a table of its own and then attached. `CREATE TABLE … PARTITION
-- OF events` takes an ACCESS EXCLUSIVE lock on `events`: it waits for every reader of `events`
-- (an export, a long search, a session idle in a transaction), and every insert queues behind
-- the waiting request. ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on `events`, which neither
-- readers nor inserts conflict with; it builds the (empty) partition's indexes and clones the
-- row triggers as PARTITION OF did. Callers bound any wait with `SET LOCAL lock_timeout`.
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
        EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING ALL EXCLUDING INDEXES EXCLUDING STATISTICS)', name);
        EXECUTE format(
          'ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
          name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        PERFORM identgate_event_partition_statistics(name::regclass);
        created := created + 1;
      EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL; -- another instance created it first (a concurrent CREATE TABLE of the name ends so)
      END;
    END IF;
    day := day + 1;
  END LOOP;
  RETURN created;
END $$;
