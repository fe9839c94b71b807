-- A gateway's gaps: runs of its sequence numbers that no event holds (event_sequences), after one
-- number (its watermark) and up to another (its highest). The gap scanner, `identgate gateways
-- list` and retiring a gateway all ask this, and count it the same way through these functions.
-- Plain SQL, STABLE and not STRICT: the planner inlines them into the query that calls them and
-- reads the numbers in order through the (site, gateway, seq) key.

-- The first gap after `after`, up to `through`; none when every number in between is held. The
-- numbers held are read in order only up to the first hole: a gap just past the watermark costs
-- the same however many numbers were held beyond it.
CREATE FUNCTION identgate_first_gap(site text, gateway text, after bigint, through bigint)
RETURNS TABLE (from_seq bigint, to_seq bigint) LANGUAGE sql STABLE AS $$
  SELECT gap.from_seq, gap.to_seq
    FROM (SELECT) one_row  -- an answer also when no number is held
    -- The first number held past a hole. The numbers held run on from `after` without one for as
    -- long as each is `after` plus its rank among them; the first that is more ends a hole that
    -- begins there.
    LEFT JOIN LATERAL (
      SELECT after + held.rank AS from_seq, held.seq - 1 AS to_seq
        FROM (SELECT s.seq, row_number() OVER (ORDER BY s.seq) AS rank
                FROM event_sequences s
               WHERE s.site = identgate_first_gap.site AND s.gateway = identgate_first_gap.gateway
                 AND s.seq > after AND s.seq <= through) held
       WHERE held.seq > after + held.rank
       ORDER BY held.seq LIMIT 1
    ) hole ON true
    -- Without one, what lies past the last number held (or `after`, when none is) up to `through`;
    -- the last number held is looked up only then.
    CROSS JOIN LATERAL (SELECT
      coalesce(hole.from_seq, (SELECT coalesce(max(s.seq), after) + 1
                                 FROM event_sequences s
                                WHERE s.site = identgate_first_gap.site AND s.gateway = identgate_first_gap.gateway
                                  AND s.seq > after AND s.seq <= through)),
      coalesce(hole.to_seq, through)
    ) gap (from_seq, to_seq)
   WHERE gap.from_seq <= gap.to_seq
$$;

-- Every gap after `after` up to `through`, in order: the first, then the first after it, and so
-- on (each gap ends just below a number held, or at `through`, where the next search starts).
CREATE FUNCTION identgate_gaps(site text, gateway text, after bigint, through bigint)
RETURNS TABLE (from_seq bigint, to_seq bigint) LANGUAGE sql STABLE AS $$
  WITH RECURSIVE gaps AS (
    SELECT first.from_seq, first.to_seq
      FROM identgate_first_gap(identgate_gaps.site, identgate_gaps.gateway, after, through) first
    UNION ALL
    SELECT next.from_seq, next.to_seq
      FROM gaps, identgate_first_gap(identgate_gaps.site, identgate_gaps.gateway, gaps.to_seq, through) next
  )
  SELECT gaps.from_seq, gaps.to_seq FROM gaps ORDER BY gaps.from_seq
$$;
