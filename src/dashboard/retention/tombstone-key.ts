import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import type { KeyRing } from '../../lib/key-ring.js';
import type { Logger } from '../../lib/logger.js';
import type { Queryable } from '../storage/event-store.js';

/**
 * The key of the erasure tombstones' HMACs (erasure-tombstones.ts), one row in
 * erasure_tombstone_key. It is kept sealed under the central master key (`key_sealed`,
 * AES-256-GCM, as TOTP secrets are, and re-sealed by `keys rotate-master`), so that whoever holds
 * the database alone cannot hash a guessed person id or badge and look it up among the
 * tombstones. Only a dashboard without keys.master keeps it in plain (`key`), and says so at start;
 * the first process with master keys seals it in place (migration 0029).
 *
 * Its plain value never changes once a row is committed (sealing and rotation only wrap it anew),
 * so a tombstone matches for as long as it is kept and the ingest may keep the key in memory.
 */
export const TOMBSTONE_KEY_CONTEXT = 'identgate/erasure-tombstone-key/v1';

interface KeyRow {
  key: Buffer | null;
  key_sealed: string | null;
}

const SELECT_KEY = 'SELECT key, key_sealed FROM erasure_tombstone_key';

function noMasterKey(): CodedError {
  return new CodedError(
    'IDG_NO_MASTER_KEY',
    "the erasure tombstones' key is sealed under the master key, and keys.master is not configured: " +
      "erased people's late events could not be refused",
  );
}

function openKey(row: KeyRow, ring: KeyRing | undefined): Buffer {
  if (row.key_sealed === null) return row.key as Buffer;
  if (!ring) throw noMasterKey();
  return ring.open(row.key_sealed, TOMBSTONE_KEY_CONTEXT);
}

/**
 * The key, or undefined while there is none: then no tombstone exists either, since every
 * tombstone is written with the key, in a transaction that creates it when missing.
 */
export async function readTombstoneKey(
  db: Queryable,
  ring: KeyRing | undefined,
): Promise<Buffer | undefined> {
  const row = (await db.query<KeyRow>(SELECT_KEY)).rows[0];
  return row ? openKey(row, ring) : undefined;
}

/**
 * The key for writing tombstones: drawn now (32 random bytes, sealed when master keys are
 * given) when there is none yet. A concurrent first erasure waits for this one's commit and
 * takes its key.
 */
export async function tombstoneKeyForWriting(db: Queryable, ring: KeyRing | undefined): Promise<Buffer> {
  const found = await readTombstoneKey(db, ring);
  if (found) return found;
  const fresh = randomBytes(32);
  await db.query(
    'INSERT INTO erasure_tombstone_key (key, key_sealed) VALUES ($1, $2) ON CONFLICT (only_one) DO NOTHING',
    ring ? [null, ring.seal(fresh, TOMBSTONE_KEY_CONTEXT)] : [fresh, null],
  );
  const key = await readTombstoneKey(db, ring);
  if (!key)
    throw new CodedError('IDG_TOMBSTONE_KEY_MISSING', 'erasure_tombstone_key stayed empty after writing it');
  return key;
}

/**
 * At the start of a dashboard (and of `people erase`, `keys rotate-master`): with master keys, a
 * key still in plain is sealed in place, and the table rewritten so that its old row version,
 * which holds the plain key, leaves the table's file; a sealed key must open with them. Without
 * master keys a sealed key stops the start, and a plain one is reported.
 */
export async function prepareTombstoneKey(pool: Pool, ring: KeyRing | undefined, log: Logger): Promise<void> {
  const row = (await pool.query<KeyRow>(SELECT_KEY)).rows[0];
  if (!ring) {
    if (row?.key_sealed) throw noMasterKey();
    log.warn(
      "keys.master is not configured: the erasure tombstones' key is kept in plain in the database, " +
        'where whoever holds the database can test a guessed person id or badge against the tombstones',
    );
    return;
  }
  if (!row) return;
  if (row.key_sealed !== null) {
    try {
      ring.open(row.key_sealed, TOMBSTONE_KEY_CONTEXT).fill(0);
    } catch (error) {
      throw new CodedError(
        'IDG_TOMBSTONE_KEY_UNREADABLE',
        `the erasure tombstones' key does not open with the configured master keys: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return;
  }
  const plain = row.key as Buffer;
  const sealed = await pool.query(
    'UPDATE erasure_tombstone_key SET key = NULL, key_sealed = $1 WHERE key = $2',
    [ring.seal(plain, TOMBSTONE_KEY_CONTEXT), plain],
  );
  plain.fill(0);
  if (sealed.rowCount !== 1) return; // another process sealed it meanwhile
  await rewriteKeyTable(pool, log);
  log.info({ masterKey: ring.currentId }, "the erasure tombstones' key is now sealed under the master key");
}

/**
 * VACUUM FULL writes the table anew and unlinks the file that held the plain key's row version
 * (its bytes may stay on the disk, and in the WAL and backups, until overwritten). A second or
 * so of exclusive lock on a one-row table; it waits at most 5 s for readers.
 */
async function rewriteKeyTable(pool: Pool, log: Logger): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(`SET lock_timeout = '5s'`);
    await client.query('VACUUM FULL erasure_tombstone_key');
    await client.query('RESET lock_timeout');
  } catch (error) {
    broken = true;
    log.warn(
      { err: error },
      "the erasure tombstones' key is sealed, but its old plain row version stays in the table's file until `VACUUM FULL erasure_tombstone_key` runs",
    );
  } finally {
    client.release(broken);
  }
}
