import type { Pool, PoolClient } from 'pg';
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
  'workstation_sessions',
  'workstation_locks',
] as const;

/**
 * Analyses the tables holding personal data again (their statistics then sample only rows that
 * exist) and, with `vacuum`, first removes the row versions deleted (after an erasure: a few rows
 * in many partitions). Partitioned tables are analysed as a whole and partition by partition.
 * Table by table, each waiting at most `lockTimeoutMs` for its lock (a schema change or a
 * VACUUM FULL in the way must not hold the run). A failure is logged, not thrown: what was deleted
 * stays deleted, and the next run tries again. Returns the tables that failed.
 */
export async function refreshAfterDeletion(
  pool: Pool,
  log: Logger,
  options: { vacuum: boolean; lockTimeoutMs: number },
): Promise<string[]> {
  // Without truncating the tables' empty ends: that needs an exclusive lock, and VACUUM waits up
  // to 5 s for it behind any reader, table by table.
  const command = options.vacuum ? 'VACUUM (ANALYZE, TRUNCATE false)' : 'ANALYZE';
  const failed: string[] = [];
  let client: PoolClient | undefined;
  try {
    client = await pool.connect();
    const present = await client.query<{ name: string }>(
      'SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL',
      [PERSONAL_DATA_TABLES],
    );
    await client.query(`SET lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`);
    for (const { name } of present.rows) {
      try {
        // The names come from the list above, never from input.
        await client.query(`${command} ${name}`);
      } catch (error) {
        failed.push(name);
        log.error(
          { err: error, command, table: name },
          'could not refresh the statistics of a table holding personal data: values of deleted rows may remain in them until the next retention run',
        );
      }
    }
    await client.query('RESET lock_timeout');
  } catch (error) {
    log.error(
      { err: error, command },
      'could not refresh the statistics of the tables holding personal data',
    );
    return [...PERSONAL_DATA_TABLES];
  } finally {
    client?.release();
  }
  return failed;
}
