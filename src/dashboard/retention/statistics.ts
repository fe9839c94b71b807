import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';

/**
 * What PostgreSQL keeps of deleted rows outside the tables themselves, removed after retention and
 * erasure. The planner's statistics (`pg_statistic`) hold sampled values of every column, person
 * ids, badges and whole event payloads among them, until the table is analysed again; for the
 * partitioned `events` parent that is never, as autovacuum does not analyse partitioned tables.
 * A deleted row's versions stay in its table's pages until VACUUM removes them, and a few deleted
 * rows in a day partition that no longer changes never start an autovacuum.
 */

/** Tables that hold personal data, and so values of it in their statistics. */
export const PERSONAL_DATA_TABLES = [
  'events',
  'alarms',
  'audit_log',
  'quarantine',
  'people',
  'badges',
  'access_grants',
  'person_photos',
  'latest_facts',
  'workstations',
] as const;

/**
 * Analyses the tables holding personal data again (their statistics then sample only rows that
 * exist) and, with `vacuum`, first removes the row versions deleted (after an erasure: a few rows
 * in many partitions). Partitioned tables are analysed as a whole and partition by partition. A
 * failure is logged, not thrown: what was deleted stays deleted, and the next run tries again.
 */
export async function refreshAfterDeletion(
  pool: Pool,
  log: Logger,
  options: { vacuum: boolean },
): Promise<boolean> {
  const command = options.vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE';
  try {
    const present = await pool.query<{ name: string }>(
      'SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL',
      [PERSONAL_DATA_TABLES],
    );
    if (present.rows.length === 0) return true;
    // The names come from the list above, never from input.
    await pool.query(`${command} ${present.rows.map((r) => r.name).join(', ')}`);
    return true;
  } catch (error) {
    log.error(
      { err: error, command },
      'could not refresh the statistics of the tables holding personal data: values of deleted rows may remain in them until the next retention run',
    );
    return false;
  }
}
