-- The per-statement event trigger of 0015, linking the digest an event was inserted with
-- (0017's identgate_event_chain_digest); otherwise unchanged.
CREATE OR REPLACE FUNCTION identgate_chain_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  chain text;
  last_no bigint;
  last_hash bytea;
  added_at timestamptz;
  refs text[];
  ats timestamptz[];
  digests bytea[];
  hashes bytea[];
BEGIN
  FOR r IN
    SELECT a.site, a.id::text AS ref, a.occurred_at AS at, identgate_event_chain_digest(a) AS digest
      FROM added a ORDER BY a.site, a.ingest_no
  LOOP
    IF chain IS DISTINCT FROM r.site THEN
      IF chain IS NOT NULL THEN
        PERFORM identgate_chain_write(chain, last_no, added_at, refs, ats, digests, hashes);
      END IF;
      chain := r.site;
      SELECT h.last_no, h.last_hash, greatest(clock_timestamp(), h.last_added)
        INTO last_no, last_hash, added_at FROM identgate_chain_head(chain) h;
      refs := '{}'; ats := '{}'; digests := '{}'; hashes := '{}';
    END IF;
    last_no := last_no + 1;
    last_hash := sha256(last_hash || r.digest);
    refs := refs || r.ref;
    ats := ats || r.at;
    digests := digests || r.digest;
    hashes := hashes || last_hash;
  END LOOP;
  IF chain IS NOT NULL THEN
    PERFORM identgate_chain_write(chain, last_no, added_at, refs, ats, digests, hashes);
  END IF;
  RETURN NULL;
END $$;

