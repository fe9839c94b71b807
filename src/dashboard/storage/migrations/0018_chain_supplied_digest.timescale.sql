-- The per-row event trigger of 0009 (TimescaleDB keeps it, see 0015), linking the digest an event
-- was inserted with (0017's identgate_event_chain_digest); otherwise unchanged.
CREATE OR REPLACE FUNCTION identgate_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM identgate_chain_append(NEW.site, 'event', NEW.id::text, NEW.occurred_at, identgate_event_chain_digest(NEW));
  RETURN NULL;
END $$;
