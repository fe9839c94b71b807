import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate, migrationsDir } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';

describe('database migrations', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 3 });
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  it('applies every migration to an empty database, choosing native partitioning here', async () => {
    const result = await migrate(pool, silentLogger);
    expect(result.mode).toBe('native');
    expect(result.applied).toEqual(listMigrations().map((m) => m.version));
    const variants = await pool.query('SELECT version, variant FROM identgate_schema ORDER BY version');
    expect(variants.rows).toEqual([
      { version: 1, variant: 'any' },
      { version: 2, variant: 'native' },
      { version: 3, variant: 'any' },
      { version: 4, variant: 'any' },
      { version: 5, variant: 'any' },
      { version: 6, variant: 'any' },
      { version: 7, variant: 'any' },
      { version: 8, variant: 'any' },
      { version: 9, variant: 'any' },
      { version: 10, variant: 'any' },
      { version: 12, variant: 'any' },
      { version: 13, variant: 'any' },
      { version: 14, variant: 'any' },
      { version: 15, variant: 'native' },
      { version: 16, variant: 'any' },
      { version: 17, variant: 'any' },
      { version: 18, variant: 'native' },
      { version: 19, variant: 'any' },
      { version: 20, variant: 'native' },
      { version: 21, variant: 'any' },
      { version: 22, variant: 'any' },
      { version: 23, variant: 'any' },
      { version: 24, variant: 'any' },
      { version: 25, variant: 'any' },
      { version: 26, variant: 'any' },
      { version: 27, variant: 'native' },
      { version: 28, variant: 'any' },
      { version: 29, variant: 'any' },
      { version: 30, variant: 'any' },
      { version: 31, variant: 'any' },
      { version: 32, variant: 'any' },
      { version: 33, variant: 'any' },
      { version: 34, variant: 'any' },
      { version: 35, variant: 'any' },
      { version: 36, variant: 'any' },
      { version: 37, variant: 'any' },
    ]);
    const partitioned = await pool.query(
      `SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'events'::regclass`,
    );
    expect(partitioned.rows).toEqual([{ partstrat: 'r' }]);
  });

  it('creates the directory, audit and retention tables', async () => {
    const tables = await pool.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.rows.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'customers',
        'sites',
        'rooms',
        'doors',
        'cameras',
        'workstations',
        'workstation_sessions',
        'workstation_locks',
        'audit_log',
        'retention_policies',
        'legal_holds',
        'deletion_log',
        'staff_accounts',
        'staff_sessions',
        'login_failures',
        'setup_tokens',
        'sequence_losses',
      ]),
    );
    const indexes = await pool.query<{ name: string }>(
      `SELECT indexname AS name FROM pg_indexes WHERE tablename IN ('events', 'alarms') ORDER BY 1`,
    );
    expect(indexes.rows.map((r) => r.name)).toEqual(
      expect.arrayContaining(['events_site_time', 'events_door_time', 'events_person_time', 'alarms_state']),
    );
  });

  it('keeps an audit_log that another part created first', async () => {
    const other = await createTestDatabase();
    const otherPool = new pg.Pool({ connectionString: other.url, max: 2 });
    try {
      await otherPool.query(
        `CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
           actor text NOT NULL, action text NOT NULL, target text, details jsonb NOT NULL DEFAULT '{}')`,
      );
      await otherPool.query(`INSERT INTO audit_log (actor, action) VALUES ('staff:first', 'staff.create')`);
      await migrate(otherPool, silentLogger);
      const kept = await otherPool.query('SELECT actor, action FROM audit_log ORDER BY id');
      // The entry from before the chain is listed as such at schema 37, and the list recorded.
      expect(kept.rows).toEqual([
        { actor: 'staff:first', action: 'staff.create' },
        { actor: 'migration:0037', action: 'audit.chain.unchained-recorded' },
      ]);
      const listed = await otherPool.query('SELECT source, ref FROM chain_unchained_at_upgrade');
      expect(listed.rows).toEqual([{ source: 'audit', ref: '1' }]);
    } finally {
      await otherPool.end();
      await other.drop();
    }
  });

  it('changes nothing when run again', async () => {
    expect((await migrate(pool, silentLogger)).applied).toEqual([]);
  });

  it('creates one partition per UTC day, idempotently', async () => {
    await pool.query(`SELECT identgate_ensure_event_partitions('2026-03-01', '2026-03-03')`);
    const again = await pool.query<{ n: number }>(
      `SELECT identgate_ensure_event_partitions('2026-03-01', '2026-03-03') AS n`,
    );
    expect(again.rows[0]?.n).toBe(0);
    const bounds = await pool.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events_p202603%' ORDER BY 1`,
    );
    expect(bounds.rows.map((r) => r.name)).toEqual([
      'events_p20260301',
      'events_p20260302',
      'events_p20260303',
    ]);
    expect(bounds.rows[0]?.bound).toContain("'2026-03-01 00:00:00+00'");
  });

  it("gives every day partition, made before migration 20 or after, the rare searches' indexes and statistics", async () => {
    // A database at version 19 with a partition, then migrated on.
    const older = await createTestDatabase();
    const olderPool = new pg.Pool({ connectionString: older.url, max: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'idg-migrations-'));
    try {
      for (const file of readdirSync(migrationsDir()).filter((f) => Number(f.slice(0, 4)) <= 19))
        copyFileSync(join(migrationsDir(), file), join(dir, file));
      await migrate(olderPool, silentLogger, dir);
      await olderPool.query(`SELECT identgate_ensure_event_partitions('2026-03-01', '2026-03-01')`);
      expect((await migrate(olderPool, silentLogger)).applied).toEqual(
        listMigrations()
          .map((m) => m.version)
          .filter((version) => version >= 20),
      );
      await olderPool.query(`SELECT identgate_ensure_event_partitions('2026-03-02', '2026-03-02')`);
      for (const day of ['20260301', '20260302']) {
        const statistics = await olderPool.query<{ kinds: string[]; columns: string }>(
          `SELECT s.stxkind::text[] AS kinds, pg_get_statisticsobjdef_columns(s.oid) AS columns
             FROM pg_statistic_ext s WHERE s.stxname = $1 AND s.stxrelid = $2::regclass`,
          [`events_p${day}_search`, `events_p${day}`],
        );
        // Most common values of the three together ('m'), and of the expression alone ('e').
        expect(statistics.rows).toEqual([
          { kinds: ['m', 'e'], columns: "site, kind, (data ->> 'reason'::text)" },
        ]);
        const indexes = await olderPool.query<{ def: string }>(
          `SELECT indexdef AS def FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '% WHERE %' ORDER BY 1`,
          [`events_p${day}`],
        );
        expect(indexes.rows.map((r) => r.def)).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/\(kind, ingest_no\) WHERE \(kind <> ALL/),
            expect.stringMatching(
              /\(\(data ->> 'reason'::text\)\), ingest_no\) WHERE \(\(data ->> 'reason'::text\) IS NOT NULL\)/,
            ),
          ]),
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await olderPool.end();
      await older.drop();
    }
  });

  it('refuses a database that is newer than this build', async () => {
    await pool.query(
      `INSERT INTO identgate_schema (version, name, variant) VALUES (9999, 'from-the-future', 'any')`,
    );
    await expect(migrate(pool, silentLogger)).rejects.toThrow(
      /schema is at version 9999, newer than this identgate build knows/,
    );
    await pool.query('DELETE FROM identgate_schema WHERE version = 9999');
  });

  it('runs safely when two instances start at once', async () => {
    const other = await createTestDatabase();
    const otherPool = new pg.Pool({ connectionString: other.url, max: 4 });
    try {
      const [a, b] = await Promise.all([migrate(otherPool, silentLogger), migrate(otherPool, silentLogger)]);
      expect([...a.applied, ...b.applied].sort((x, y) => x - y)).toEqual(
        listMigrations().map((m) => m.version),
      );
    } finally {
      await otherPool.end();
      await other.drop();
    }
  });
});
