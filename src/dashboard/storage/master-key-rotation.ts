import type { Pool } from 'pg';
import type { KeyRing } from '../../lib/key-ring.js';
import { STAFF_TOTP_CONTEXT } from '../auth/staff-totp.js';
import { TOMBSTONE_KEY_CONTEXT } from '../retention/tombstone-key.js';
import { SECRET_CONTEXT } from './people-store.js';
import { PHOTO_CONTEXT } from './photo-store.js';

/**
 * Every database column sealed under the central master key, with the associated data each value
 * is bound to. A feature that seals another column under the master key adds it here, and the
 * rotation covers it.
 */
export interface SealedColumn {
  table: string;
  id: string;
  column: string;
  context: (id: string) => string;
}

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'people', id: 'id', column: 'totp_secret_sealed', context: (id) => `${SECRET_CONTEXT}/${id}` },
  {
    table: 'person_photos',
    id: 'person_id',
    column: 'photo_sealed',
    context: (id) => `${PHOTO_CONTEXT}/${id}`,
  },
  {
    table: 'staff_accounts',
    id: 'id',
    column: 'totp_secret_sealed',
    context: (id) => `${STAFF_TOTP_CONTEXT}/${id}`,
  },
  {
    table: 'staff_accounts',
    id: 'id',
    column: 'totp_pending_sealed',
    context: (id) => `${STAFF_TOTP_CONTEXT}/${id}`,
  },
  // One row (id `true`); its key is bound to no id.
  {
    table: 'erasure_tombstone_key',
    id: 'only_one',
    column: 'key_sealed',
    context: () => TOMBSTONE_KEY_CONTEXT,
  },
];

export interface RotationReport {
  /** Values re-sealed under the current key. */
  resealed: number;
  /** Values another writer changed between read and write (already sealed anew by it). */
  skipped: number;
  /** Values no key of the ring opens: `table.column:id`. */
  unreadable: string[];
  /** How many values each key id still seals, after the run ('v1' for values naming no key). */
  byKey: Record<string, number>;
}

/**
 * Re-seals every value not yet under the ring's current key, in batches, while dashboards keep
 * running: each row is replaced only if it still holds what was read (a concurrent write wins),
 * and each batch is its own short transaction, so no row stays locked for long.
 */
export async function rotateMasterKey(
  pool: Pool,
  ring: KeyRing,
  options: { batchSize?: number; columns?: readonly SealedColumn[]; onBatch?: (done: number) => void } = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 100;
  const report: RotationReport = { resealed: 0, skipped: 0, unreadable: [], byKey: {} };
  const current = `v2.${ring.currentId}.%`;
  for (const col of options.columns ?? SEALED_COLUMNS) {
    let after = '';
    for (;;) {
      const rows = await pool.query<{ id: string; sealed: string }>(
        `SELECT ${col.id} AS id, ${col.column} AS sealed FROM ${col.table}
          WHERE ${col.column} IS NOT NULL AND ${col.column} NOT LIKE $1 AND ${col.id}::text > $2
          ORDER BY ${col.id}::text LIMIT $3`,
        [current, after, batchSize],
      );
      if (rows.rows.length === 0) break;
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (const row of rows.rows) {
          let plain: Buffer;
          try {
            plain = ring.open(row.sealed, col.context(row.id));
          } catch (error) {
            report.unreadable.push(`${col.table}.${col.column}:${row.id} (${(error as Error).message})`);
            continue;
          }
          const resealed = ring.seal(plain, col.context(row.id));
          plain.fill(0);
          const updated = await client.query(
            `UPDATE ${col.table} SET ${col.column} = $1 WHERE ${col.id} = $2 AND ${col.column} = $3`,
            [resealed, row.id, row.sealed],
          );
          if (updated.rowCount === 1) report.resealed += 1;
          else report.skipped += 1;
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
      after = rows.rows[rows.rows.length - 1]?.id ?? after;
      options.onBatch?.(report.resealed);
    }
    const left = await pool.query<{ kid: string; n: number }>(
      `SELECT CASE WHEN ${col.column} LIKE 'v2.%' THEN split_part(${col.column}, '.', 2) ELSE 'v1' END AS kid,
              count(*)::int AS n
         FROM ${col.table} WHERE ${col.column} IS NOT NULL GROUP BY 1`,
    );
    for (const row of left.rows) report.byKey[row.kid] = (report.byKey[row.kid] ?? 0) + row.n;
  }
  return report;
}
