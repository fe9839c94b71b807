import type { Pool } from 'pg';
import { withTransaction } from './transaction.js';

/**
 * Creates the day partitions of `events` from `firstDay` to `lastDay` (UTC dates, `YYYY-MM-DD`)
 * that are missing, and says how many it created. Creating one attaches it to `events` (migration
 * 27), which waits only for schema changes on `events` and for a partition drop; that wait ends
 * after `lockTimeoutMs` with PostgreSQL's `lock_not_available` (55P03), and nothing is created.
 * On TimescaleDB it creates nothing (chunks are TimescaleDB's own).
 */
export async function ensureEventPartitions(
  pool: Pool,
  firstDay: string,
  lastDay: string,
  lockTimeoutMs: number,
): Promise<number> {
  return withTransaction(pool, async (db) => {
    await db.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
    const result = await db.query<{ n: number }>(
      'SELECT identgate_ensure_event_partitions($1::date, $2::date) AS n',
      [firstDay, lastDay],
    );
    return result.rows[0]?.n ?? 0;
  });
}
