-- The tombstones' key (migration 28) was kept in plain: whoever held the database alone could
-- hash a guessed person id or badge and look it up among the tombstones. From now on it is kept
-- sealed under the master key (AES-256-GCM, `key_sealed`, tombstone-key.ts), as TOTP secrets are;
-- `key` holds it in plain only where no master key is configured (a dashboard without
-- keys.master), and the first process with master keys seals it in place.
ALTER TABLE erasure_tombstone_key
  ALTER COLUMN key DROP NOT NULL,
  ADD COLUMN key_sealed text,
  ADD CONSTRAINT erasure_tombstone_key_one_form CHECK ((key IS NULL) <> (key_sealed IS NULL));

-- A key no tombstone was hashed under is not worth keeping: its plain copy is in the WAL and the
-- backups of migration 28. The first process that needs one draws a new key and, with master
-- keys, stores it sealed only.
DELETE FROM erasure_tombstone_key WHERE NOT EXISTS (SELECT 1 FROM erasure_tombstones);
