-- A fact counts from its event's time, or from when the event arrived if that was earlier
-- (LatestFactsStore): a gateway whose clock runs ahead could otherwise hold a door's state, or
-- its own sign of life for the offline watchdog, for as long as its clock is ahead. Facts already
-- kept count from now at the latest.
ALTER TABLE latest_facts ADD COLUMN seen_at timestamptz;
UPDATE latest_facts SET seen_at = least(occurred_at, now());
ALTER TABLE latest_facts ALTER COLUMN seen_at SET NOT NULL;
