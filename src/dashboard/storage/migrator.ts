import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg, { type Pool, type PoolClient } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { packageInfo } from '../../lib/package-root.js';
import { JOB_LOCKS } from './database.js';

/**
 * Versioned SQL migrations, applied at start-up under an advisory lock so that several dashboard
 * instances can start at once. A file `NNNN_name.sql` applies everywhere; a pair
 * `NNNN_name.native.sql` / `NNNN_name.timescale.sql` is chosen by the storage mode, which is
 * decided once (TimescaleDB when the extension can be created, native partitioning otherwise).
 */
export type StorageMode = 'native' | 'timescale';

interface Migration {
  version: number;
  name: string;
  files: { any?: string; native?: string; timescale?: string };
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9-_]+?)(?:\.(native|timescale))?\.sql$/;
const LOCK_KEY = JOB_LOCKS.migrations;

/** The .sql files live beside the sources; the compiled build reads them from there too. */
export function migrationsDir(): string {
  return join(packageInfo().root, 'src/dashboard/storage/migrations');
}

export function listMigrations(dir = migrationsDir()): Migration[] {
  const byVersion = new Map<number, Migration>();
  for (const file of readdirSync(dir)) {
    const match = FILE_PATTERN.exec(file);
    if (!match) continue;
    const version = Number(match[1]);
    const migration = byVersion.get(version) ?? { version, name: match[2] ?? '', files: {} };
    migration.files[(match[3] as 'native' | 'timescale' | undefined) ?? 'any'] = `${dir}/${file}`;
    byVersion.set(version, migration);
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

export interface MigrationResult {
  mode: StorageMode;
  applied: number[];
  version: number;
}

export async function migrate(pool: Pool, log: Logger, dir = migrationsDir()): Promise<MigrationResult> {
  const migrations = listMigrations(dir);
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS identgate_schema (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      variant    text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS identgate_meta (key text PRIMARY KEY, value text NOT NULL)`,
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM identgate_schema')).rows.map(
        (r) => r.version,
      ),
    );
    const newest = Math.max(0, ...done);
    if (newest > latest) {
      throw new CodedError(
        'IDG_DB_TOO_NEW',
        `the database schema is at version ${newest}, newer than this identgate build knows (${latest}); upgrade identgate`,
      );
    }
    const mode = await storageMode(pool, client, log);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      const file = migration.files.any ?? migration.files[mode];
      if (!file)
        throw new CodedError('IDG_DB_MIGRATION', `migration ${migration.version} has no ${mode} variant`);
      const variant = migration.files.any ? 'any' : mode;
      await client.query('BEGIN');
      try {
        await client.query(readFileSync(file, 'utf8'));
        await client.query('INSERT INTO identgate_schema (version, name, variant) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          variant,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new CodedError(
          'IDG_DB_MIGRATION',
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      applied.push(migration.version);
      log.info({ version: migration.version, name: migration.name, variant }, 'database migration applied');
    }
    return { mode, applied, version: latest };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    client.release();
  }
}

/** The oldest TimescaleDB whose `create_hypertable(…, by_range(…))` migration 2 calls. */
export const TIMESCALE_MINIMUM = '2.13';

/** Whether an extension version (`2.17.2`, `2.13.0-dev`) is at least `minimum` (`2.13`). */
export function versionAtLeast(version: string, minimum: string): boolean {
  const parts = (v: string) => (v.match(/^\d+(?:\.\d+)*/)?.[0] ?? '0').split('.').map(Number);
  const [have, need] = [parts(version), parts(minimum)];
  for (let i = 0; i < Math.max(have.length, need.length); i++) {
    const difference = (have[i] ?? 0) - (need[i] ?? 0);
    if (difference !== 0) return difference > 0;
  }
  return true;
}

/** Decided on the first start and remembered: a database never switches paths under its data. */
async function storageMode(pool: Pool, client: PoolClient, log: Logger): Promise<StorageMode> {
  const stored = await client.query<{ value: string }>(
    `SELECT value FROM identgate_meta WHERE key = 'storage_mode'`,
  );
  const known = stored.rows[0]?.value;
  if (known === 'native' || known === 'timescale') return known;
  const available = await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
  const mode: StorageMode = available.rowCount ? await enableTimescale(pool, log) : 'native';
  await client.query(`INSERT INTO identgate_meta (key, value) VALUES ('storage_mode', $1)`, [mode]);
  log.info({ mode }, 'storage mode chosen');
  return mode;
}

/**
 * Tries `CREATE EXTENSION timescaledb` on a connection of its own: a TimescaleDB that is
 * installed but not in `shared_preload_libraries` refuses with FATAL, which ends the connection,
 * and the migrations' connection (holding their lock) must outlive that. Any failure, and a
 * TimescaleDB older than TIMESCALE_MINIMUM, means native partitioning, remembered for good.
 */
async function enableTimescale(pool: Pool, log: Logger): Promise<StorageMode> {
  const attempt = new pg.Client(pool.options);
  attempt.on('error', () => {}); // a connection ended by FATAL; the query's rejection says why
  try {
    await attempt.connect();
    await attempt.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    const installed = await attempt.query<{ version: string }>(
      `SELECT extversion AS version FROM pg_extension WHERE extname = 'timescaledb'`,
    );
    const version = installed.rows[0]?.version ?? '';
    if (versionAtLeast(version, TIMESCALE_MINIMUM)) return 'timescale';
    log.warn(
      { version, minimum: TIMESCALE_MINIMUM },
      'timescaledb is older than identgate needs; using native partitioning for this database for good',
    );
  } catch (error) {
    log.warn(
      { err: error },
      'timescaledb is available but could not be enabled (is it in shared_preload_libraries?); using native partitioning for this database for good',
    );
  } finally {
    await attempt.end().catch(() => {});
  }
  return 'native';
}
