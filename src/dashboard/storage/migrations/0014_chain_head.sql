-- A chain's head, where every writer of a chain starts: the per-row append of 0009 (alarms, staff
-- actions, and events under TimescaleDB) and the per-statement event trigger of 0015. It takes the
-- chain's transaction lock first, so the head it returns stays the head until the commit.
CREATE FUNCTION identgate_chain_head(p_site text, OUT last_no bigint, OUT last_hash bytea, OUT last_added timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('identgate-chain:' || p_site, 0));
  SELECT c.no, c.hash, c.added_at INTO last_no, last_hash, last_added
    FROM audit_chain c WHERE c.site = p_site ORDER BY c.no DESC LIMIT 1;
  IF last_no IS NULL THEN
    -- Every row pruned: the chain goes on from its latest checkpoint.
    SELECT k.last_no, k.head, k.span_to INTO last_no, last_hash, last_added
      FROM audit_checkpoints k WHERE k.site = p_site ORDER BY k.last_no DESC LIMIT 1;
  END IF;
  last_no := coalesce(last_no, 0);
  last_hash := coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
END $$;

-- 0009's append, unchanged in what it writes, now starting from identgate_chain_head.
CREATE OR REPLACE FUNCTION identgate_chain_append(p_site text, p_source text, p_ref text, p_at timestamptz, p_digest bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  head record;
BEGIN
  SELECT * INTO head FROM identgate_chain_head(p_site);
  INSERT INTO audit_chain (site, no, source, ref, at, added_at, digest, hash)
  VALUES (p_site, head.last_no + 1, p_source, p_ref, p_at, greatest(clock_timestamp(), head.last_added),
          p_digest, sha256(head.last_hash || p_digest));
END $$;
