-- A secret in every digested alarm and staff action, so that the audit chain's digests cannot be
-- used to re-identify an erased or expired person.
--
-- The chain keeps, for every alarm and audit entry, the SHA-256 of its content as first written
-- (0009). An erasure rewrites an audit entry (`person:<id>` → `person:erased`, a detail's person,
-- user or badge → `erased`), the presence retention its workstation user (→ `expired`), and the
-- chain row keeps the original digest, as its links need it. Without a secret in that digest,
-- whoever holds the database alone (a dump, a backup) could put a guessed id back into the
-- rewritten row, hash it again and compare: the test the tombstones' HMAC key exists to prevent.
-- A deleted alarm is exposed alike: its chain row keeps its id and time, and a lock-out's key
-- (`badge-locked-out:<badge>`) is one guess away.
--
-- So each new row draws a random salt (gen_random_uuid: 122 random bits from PostgreSQL's strong
-- random source), the digest covers it, and whatever erases or expires the row destroys it:
-- the rewrites set it to NULL in the UPDATE that rewrites the row (the digest an erasure lists is
-- of the row as it is then, unsalted), a deletion takes it with the row. Rows from before this
-- migration keep NULL and digest exactly as before, so they keep verifying; they stay guessable
-- once rewritten (docs/data-protection.md). Events need none: their digest covers the gateway's
-- Ed25519 signature, which a deletion takes along and a companion's erasure clears.
--
-- One file for both storage modes: audit_log and alarms are plain tables under TimescaleDB too,
-- and their chain triggers (0009's per-row identgate_chain_alarm and identgate_chain_audit, the
-- same in both modes) call the two functions below with the inserted row, salt included.
-- Added without a default first: a volatile default in ADD COLUMN would fill the existing rows
-- too, changing their digests; they must keep NULL.
ALTER TABLE audit_log ADD COLUMN salt uuid;
ALTER TABLE audit_log ALTER COLUMN salt SET DEFAULT gen_random_uuid();
ALTER TABLE alarms ADD COLUMN salt uuid;
ALTER TABLE alarms ALTER COLUMN salt SET DEFAULT gen_random_uuid();

-- 0009's digests; a row with a salt has it appended as the array's last element.
CREATE OR REPLACE FUNCTION identgate_alarm_digest(a alarms) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to((jsonb_build_array('alarm', a.id, a.source, a.site, a.gateway, a.alarm, a.key,
    a.severity, a.door, identgate_chain_micros(a.raised_at), a.event_id)
    || CASE WHEN a.salt IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(a.salt) END)::text, 'UTF8'))
$$;

CREATE OR REPLACE FUNCTION identgate_audit_digest(l audit_log) RETURNS bytea
LANGUAGE sql STABLE AS $$
  SELECT sha256(convert_to((jsonb_build_array('audit', l.id, identgate_chain_micros(l.at), l.actor, l.action,
    l.target, l.details)
    || CASE WHEN l.salt IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(l.salt) END)::text, 'UTF8'))
$$;
