-- Tombstones of erased people: an event of theirs that arrives after the erasure (from a
-- gateway's outbox, or badged at a gateway that has not yet received the new credential set) is
-- not stored again. A tombstone holds a keyed hash (HMAC-SHA256) of the person id or of one of
-- their badges, never the id itself, and the time of the erasure; the retention run removes it
-- once no event of that time can still be stored (erasure-tombstones.ts).

-- The key of those hashes: one, drawn here from PostgreSQL's strong random source (gen_random_uuid,
-- 122 random bits each, hashed to 32 bytes), and never rotated, so that a tombstone matches for as
-- long as it is kept. It lives in the database because every writer of tombstones (`people
-- erase` on the command line, which loads no master key) and every ingest must have it.
CREATE TABLE erasure_tombstone_key (
  only_one   boolean PRIMARY KEY DEFAULT true CHECK (only_one),
  key        bytea NOT NULL CHECK (length(key) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO erasure_tombstone_key (key)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));

-- One row per hashed person id or badge; what it was (person or badge) is part of the hashed text.
CREATE TABLE erasure_tombstones (
  digest    bytea PRIMARY KEY CHECK (length(digest) = 32),
  erased_at timestamptz NOT NULL
);
CREATE INDEX erasure_tombstones_erased_at ON erasure_tombstones (erased_at);
