-- The native variant's two partial indexes, for the same searches (see there). TimescaleDB builds
-- them on every chunk. The native variant's statistics per day partition are not made here:
-- TimescaleDB creates its chunks itself and, in the releases this was written against, does not
-- copy extended statistics to them.
CREATE INDEX events_rare_kind ON events (kind, ingest_no)
  WHERE kind NOT IN ('access.granted', 'door.unlocked', 'door.opened', 'door.closed', 'door.locked',
                     'room.occupancy', 'video.segment', 'gateway.heartbeat');
CREATE INDEX events_reason ON events ((data ->> 'reason'), ingest_no) WHERE (data ->> 'reason') IS NOT NULL;
