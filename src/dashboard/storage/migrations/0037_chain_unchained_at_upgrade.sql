-- Sources stored without a chain row when this version was installed. `audit verify` now looks
-- for events, alarms and staff actions that have no row in their chain; until this version,
-- `audit prune` deleted the chain rows of signed days whether their sources were still stored or
-- not, and rows stored before the chain (migration 0009) never had one. They are listed here once,
-- at the upgrade, and accepted by verify as unchained; nothing is added to the list afterwards.
-- So that the list cannot grow unseen, a non-empty list is recorded with its count and SHA-256
-- in a staff action of its own (`audit.chain.unchained-recorded`), which joins the chain like any
-- other; verify recomputes both. The list holds ids and times only, no personal data.
CREATE TABLE chain_unchained_at_upgrade (
  source text        NOT NULL CHECK (source IN ('event', 'alarm', 'audit')),
  ref    text        NOT NULL,
  at     timestamptz NOT NULL,
  PRIMARY KEY (source, ref, at)
);

INSERT INTO chain_unchained_at_upgrade (source, ref, at)
SELECT 'event', e.id::text, e.occurred_at FROM events e
 WHERE NOT EXISTS (SELECT 1 FROM audit_chain c
                    WHERE c.source = 'event' AND c.ref = e.id::text AND c.at = e.occurred_at)
UNION ALL
SELECT 'alarm', a.id::text, a.raised_at FROM alarms a
 WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.source = 'alarm' AND c.ref = a.id::text)
UNION ALL
SELECT 'audit', l.id::text, l.at FROM audit_log l
 WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.source = 'audit' AND c.ref = l.id::text);

-- The list's digest, which `audit verify` and the export compare with the recorded one
-- (chain-verifier.ts, unchainedListProblem).
CREATE FUNCTION identgate_unchained_list_digest() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(coalesce(string_agg(
           u.source || ' ' || u.ref || ' ' || identgate_chain_micros(u.at)::text, E'\n'
           ORDER BY u.source, u.ref, u.at), ''), 'UTF8')), 'hex')
    FROM chain_unchained_at_upgrade u
$$;

INSERT INTO audit_log (actor, action, details)
SELECT 'migration:0037', 'audit.chain.unchained-recorded',
       jsonb_build_object('rows', n, 'sha256', identgate_unchained_list_digest())
  FROM (SELECT count(*) AS n FROM chain_unchained_at_upgrade) l
 WHERE n > 0;
