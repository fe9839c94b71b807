-- An event may arrive with its chain digest already computed (`chain_digest`): the ingest computes
-- it in a statement of its own before its insert (EventStore.digest), so that the chain trigger
-- links it instead of computing it while the transaction holds the ingest-order lock (0016) and
-- the chain's, the part of the ingest that runs one transaction at a time across all dashboard
-- instances. Both use one definition, identgate_event_digest_of. `identgate audit verify`
-- recomputes every event's digest from its content (identgate_event_digest), never from this
-- column, so a wrong digest supplied here is reported like an event changed afterwards. A writer
-- that supplies none (NULL) gets it computed by the trigger, as before.
ALTER TABLE events ADD COLUMN chain_digest bytea;

-- The content digest of 0009, from the columns themselves: what an insert is about to store.
CREATE FUNCTION identgate_event_digest_of(id uuid, occurred_at timestamptz, schema_version smallint, site text,
                                          gateway text, seq bigint, kind text, door text, person text,
                                          data jsonb, signature text)
RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(jsonb_build_array('event', id, identgate_chain_micros(occurred_at),
    schema_version, site, gateway, seq, kind, door, person, data, signature)::text, 'UTF8'))
$$;

CREATE OR REPLACE FUNCTION identgate_event_digest(e events) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT identgate_event_digest_of(e.id, e.occurred_at, e.schema_version, e.site, e.gateway, e.seq, e.kind,
                                   e.door, e.person, e.data, e.signature)
$$;

-- What the chain links for an event: the digest supplied with it, or else its content digest.
CREATE FUNCTION identgate_event_chain_digest(e events) RETURNS bytea
LANGUAGE sql STABLE AS $$ SELECT coalesce(e.chain_digest, identgate_event_digest(e)) $$;
