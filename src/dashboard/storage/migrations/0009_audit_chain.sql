-- The tamper-evident log: access events, alarms and staff actions form one hash chain per site
-- (alarms and staff actions without a site form the chain `_central`) in the order they were
-- written, appended by triggers in the same transaction as the row itself. A chain row holds no
-- personal data: the source's id and time, the SHA-256 of its content, and the link hash
-- sha256(previous hash || digest). Day checkpoints sign a day's head; they outlive retention.
CREATE TABLE audit_chain (
  site     text        NOT NULL,
  no       bigint      NOT NULL,
  source   text        NOT NULL CHECK (source IN ('event', 'alarm', 'audit')),
  ref      text        NOT NULL,
  at       timestamptz NOT NULL,
  added_at timestamptz NOT NULL,
  digest   bytea       NOT NULL,
  hash     bytea       NOT NULL,
  PRIMARY KEY (site, no)
);
CREATE INDEX audit_chain_added ON audit_chain (site, added_at);
CREATE INDEX audit_chain_ref ON audit_chain (source, ref);

CREATE TABLE audit_checkpoints (
  site       text        NOT NULL,
  day        date        NOT NULL,
  first_no   bigint      NOT NULL,
  last_no    bigint      NOT NULL,
  count      bigint      NOT NULL CHECK (count = last_no - first_no + 1),
  prev_hash  bytea       NOT NULL,
  head       bytea       NOT NULL,
  span_from  timestamptz NOT NULL,
  span_to    timestamptz NOT NULL,
  public_key text        NOT NULL,
  signature  text        NOT NULL,
  signed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site, day),
  UNIQUE (site, last_no)
);

-- Microseconds since the epoch: a time in the digests that no session setting can reformat.
CREATE FUNCTION identgate_chain_micros(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

-- The content digests: jsonb's text form is canonical (keys ordered, whitespace fixed).
CREATE FUNCTION identgate_event_digest(e events) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(jsonb_build_array('event', e.id, identgate_chain_micros(e.occurred_at),
    e.schema_version, e.site, e.gateway, e.seq, e.kind, e.door, e.person, e.data, e.signature)::text, 'UTF8'))
$$;

-- Only what an alarm is born with; its later state changes are staff actions in audit_log.
CREATE FUNCTION identgate_alarm_digest(a alarms) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(jsonb_build_array('alarm', a.id, a.source, a.site, a.gateway, a.alarm, a.key,
    a.severity, a.door, identgate_chain_micros(a.raised_at), a.event_id)::text, 'UTF8'))
$$;

CREATE FUNCTION identgate_audit_digest(l audit_log) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to(jsonb_build_array('audit', l.id, identgate_chain_micros(l.at), l.actor, l.action,
    l.target, l.details)::text, 'UTF8'))
$$;

-- Appends under a per-chain transaction lock, so the order is the commit order of the writers
-- and `added_at` never goes backwards within a chain (day checkpoints rely on both).
CREATE FUNCTION identgate_chain_append(p_site text, p_source text, p_ref text, p_at timestamptz, p_digest bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  last_no bigint;
  last_hash bytea;
  last_added timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('identgate-chain:' || p_site, 0));
  SELECT c.no, c.hash, c.added_at INTO last_no, last_hash, last_added
    FROM audit_chain c WHERE c.site = p_site ORDER BY c.no DESC LIMIT 1;
  IF last_no IS NULL THEN
    -- Every row pruned: the chain goes on from its latest checkpoint.
    SELECT k.last_no, k.head, k.span_to INTO last_no, last_hash, last_added
      FROM audit_checkpoints k WHERE k.site = p_site ORDER BY k.last_no DESC LIMIT 1;
  END IF;
  INSERT INTO audit_chain (site, no, source, ref, at, added_at, digest, hash)
  VALUES (p_site, coalesce(last_no, 0) + 1, p_source, p_ref, p_at,
          greatest(clock_timestamp(), last_added), p_digest,
          sha256(coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) || p_digest));
END $$;

CREATE FUNCTION identgate_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM identgate_chain_append(NEW.site, 'event', NEW.id::text, NEW.occurred_at, identgate_event_digest(NEW));
  RETURN NULL;
END $$;

CREATE FUNCTION identgate_chain_alarm() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM identgate_chain_append(coalesce(NEW.site, '_central'), 'alarm', NEW.id::text, NEW.raised_at,
                                 identgate_alarm_digest(NEW));
  RETURN NULL;
END $$;

CREATE FUNCTION identgate_chain_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM identgate_chain_append('_central', 'audit', NEW.id::text, NEW.at, identgate_audit_digest(NEW));
  RETURN NULL;
END $$;

CREATE TRIGGER events_chain AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION identgate_chain_event();
CREATE TRIGGER alarms_chain AFTER INSERT ON alarms FOR EACH ROW EXECUTE FUNCTION identgate_chain_alarm();
CREATE TRIGGER audit_log_chain AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION identgate_chain_audit();
