-- The text an event's content digest is taken of, as a function of its own: an auditor's export
-- writes it into the bundle (chain-content.csv), so that the bundle's verifier can hash it
-- against the chain link and read the event out of it, offline. The digest is redefined as the
-- SHA-256 of this text, so the two cannot drift apart: one definition (0017), unchanged in effect.
CREATE FUNCTION identgate_event_digest_text_of(id uuid, occurred_at timestamptz, schema_version smallint,
                                               site text, gateway text, seq bigint, kind text, door text,
                                               person text, data jsonb, signature text)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_array('event', id, identgate_chain_micros(occurred_at), schema_version, site, gateway,
    seq, kind, door, person, data, signature)::text
$$;

CREATE OR REPLACE FUNCTION identgate_event_digest_of(id uuid, occurred_at timestamptz, schema_version smallint,
                                                     site text, gateway text, seq bigint, kind text, door text,
                                                     person text, data jsonb, signature text)
RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(identgate_event_digest_text_of(id, occurred_at, schema_version, site, gateway, seq,
    kind, door, person, data, signature), 'UTF8'))
$$;

CREATE FUNCTION identgate_event_digest_text(e events) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT identgate_event_digest_text_of(e.id, e.occurred_at, e.schema_version, e.site, e.gateway, e.seq,
                                        e.kind, e.door, e.person, e.data, e.signature)
$$;
