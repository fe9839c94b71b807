-- A number used by an event its gateway signed that was quarantined all the same (dated too far
-- ahead, one event of a signed batch failing its own checks, unstorable): the number is taken,
-- and the ingest tells such a holder from a stored event without looking into `events`.
ALTER TABLE event_sequences ADD COLUMN quarantined boolean NOT NULL DEFAULT false;
