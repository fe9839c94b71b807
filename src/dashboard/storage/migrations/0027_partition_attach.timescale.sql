-- The native variant creates day partitions without an ACCESS EXCLUSIVE lock on `events`.
-- TimescaleDB creates its chunks itself; identgate_ensure_event_partitions stays `SELECT 0`.
SELECT 1;
