import type pg from 'pg';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import { redactDatabaseUrl } from './database.js';
import type { EventStore } from './event-store.js';
import { LATEST_FACTS_MIGRATION, type LatestFactsStore } from './latest-facts.js';
import type { MigrationResult } from './migrator.js';
import { DEFAULT_OVERVIEW_BOUNDS } from './overview-store.js';

/**
 * The dashboard's first step at start, before the migrations: PostgreSQL must answer, or the start
 * fails with IDG_DB_UNREACHABLE, naming the database without its password.
 */
export async function assertDatabaseReachable(pool: pg.Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    throw new CodedError(
      'IDG_DB_UNREACHABLE',
      `cannot reach PostgreSQL at ${redactDatabaseUrl(url)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * The dashboard's step at start after the migrations: today's and tomorrow's event partitions,
 * and the facts table filled when this start upgraded the database to it.
 */
export async function prepareAfterMigration(
  events: EventStore,
  facts: LatestFactsStore,
  clock: Clock,
  migration: MigrationResult,
): Promise<void> {
  const today = clock.now();
  await events.ensurePartitions([
    new Date(today).toISOString().slice(0, 10),
    new Date(today + 86_400_000).toISOString().slice(0, 10),
  ]);
  // A database upgraded to the facts table gets its facts from the events stored before it;
  // from then on the ingest keeps them in the same transaction as the events.
  if (migration.applied.includes(LATEST_FACTS_MIGRATION)) {
    await facts.rebuild(DEFAULT_OVERVIEW_BOUNDS.lookbackDays);
  }
}
