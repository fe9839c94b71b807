-- Ingest numbers are taken and committed in order across every writer of events, however many
-- dashboard instances share the ingest: an INSERT into events first takes this transaction lock,
-- which is held until the commit. Each instance's ingest already commits in order (its pipeline);
-- without this lock two instances could commit numbers out of order, and a live stream, which
-- resumes after the highest number it sent, would skip the lower ones. The lock comes before the
-- chain's (taken by the AFTER trigger); an ingest transaction that quarantines, which raises alarms
-- and so takes chain locks, takes it itself first (IngestPipeline).
CREATE FUNCTION identgate_ingest_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('identgate-ingest-order', 0));
  RETURN NULL;
END $$;

CREATE TRIGGER events_order BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION identgate_ingest_order();
