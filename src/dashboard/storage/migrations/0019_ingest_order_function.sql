-- The ingest-order lock of 0016 in one place: the trigger takes it through this function, and so
-- does an ingest transaction that quarantines, before it raises alarms (IngestPipeline).
CREATE FUNCTION identgate_take_ingest_order() RETURNS void LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtextextended('identgate-ingest-order', 0))
$$;

CREATE OR REPLACE FUNCTION identgate_ingest_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM identgate_take_ingest_order();
  RETURN NULL;
END $$;
