import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import type { IncomingMessage } from '../../src/dashboard/ingest/ingest-pipeline.js';
import { listMigrations, migrate } from '../../src/dashboard/storage/migrator.js';
import { type Logger, silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboard } from '../helpers/ingest-dashboard.js';
import { createTestDatabase, uniqueSite } from '../helpers/services.js';

/**
 * The TimescaleDB path's own SQL. TimescaleDB cannot be installed on the machines that run these
 * tests, so its two functions the migrations call, `by_range` and `create_hypertable`, are
 * stood in for by functions that note the call and leave `events` a plain table. What this
 * proves: the path's migrations apply in order with their `timescale` variants, and on the table
 * they leave (row triggers, no transition tables, no partitions) the ingest stores events once
 * each and chains them as the verifier expects. What TimescaleDB itself does with the table
 * (chunks), and retention's SQL for it (drop_chunks), are not tested.
 * Hypertables had no transition tables before TimescaleDB 2.18, so this path chains per row.
 */
describe('the TimescaleDB path, with its two functions stood in for', () => {
  const keys = generateSigningKeyPair();
  const [siteA, siteB] = [uniqueSite('tsdb'), uniqueSite('tsdb')] as [string, string];
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let dashboard: Dashboard;
  let seq = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 3 });
    await pool.query(`
      CREATE TABLE timescale_calls (call text NOT NULL);
      CREATE FUNCTION by_range(column_name name, partition_interval interval) RETURNS text
        LANGUAGE sql AS $$ SELECT format('by_range(%s, %s)', column_name, partition_interval) $$;
      CREATE FUNCTION create_hypertable(relation regclass, dimension text) RETURNS void
        LANGUAGE sql AS $$ INSERT INTO timescale_calls VALUES (format('create_hypertable(%s, %s)', relation, dimension)) $$;
      -- The storage mode the migrator would have chosen had CREATE EXTENSION timescaledb worked.
      CREATE TABLE identgate_meta (key text PRIMARY KEY, value text NOT NULL);
      INSERT INTO identgate_meta VALUES ('storage_mode', 'timescale');
    `);
  });

  afterAll(async () => {
    await dashboard?.stop();
    await pool.end();
    await database.drop();
  });

  const message = async (site: string, data: object = { door: 'main' }): Promise<IncomingMessage> => {
    const envelope = signedEvent(
      { site, gateway: 'gw-1', seq: ++seq, kind: 'door.locked', data },
      keys.privateKey,
    );
    const msg = { topic: topics.events(site, 'gw-1'), payload: Buffer.from(JSON.stringify(envelope)) };
    return { ...msg, checked: await dashboard.ingestPipeline.check(msg) };
  };

  it('applies every migration, taking the timescale variant where there is one', async () => {
    const result = await migrate(pool, silentLogger);
    expect(result.mode).toBe('timescale');
    expect(result.applied).toEqual(listMigrations().map((m) => m.version));
    const variants = await pool.query<{ version: number }>(
      `SELECT version FROM identgate_schema WHERE variant = 'timescale' ORDER BY version`,
    );
    expect(variants.rows.map((r) => r.version)).toEqual(
      listMigrations()
        .filter((m) => m.files.timescale)
        .map((m) => m.version),
    );
    expect(variants.rows.length).toBeGreaterThan(0);
    const calls = await pool.query('SELECT call FROM timescale_calls');
    expect(calls.rows).toEqual([{ call: 'create_hypertable(events, by_range(occurred_at, 1 day))' }]);
    // Events keep the per-row chain trigger here (hypertables had no transition tables before 2.18).
    const triggers = await pool.query<{ tgname: string; row: boolean; transition: boolean }>(
      `SELECT tgname, (tgtype & 1) = 1 AS row, tgnewtable IS NOT NULL OR tgoldtable IS NOT NULL AS transition
         FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal ORDER BY tgname`,
    );
    expect(triggers.rows).toEqual([
      { tgname: 'events_chain', row: true, transition: false },
      { tgname: 'events_order', row: false, transition: false },
    ]);
  });

  it('stores a batch of two sites once each and chains it per site, as the verifier expects', async () => {
    dashboard = await startIngestDashboard({
      databaseUrl: database.url,
      site: siteA,
      gateways: ['gw-1', { site: siteB, id: 'gw-1' }],
      publicKey: keys.publicKey,
    });
    const batch = [await message(siteA), await message(siteB), await message(siteA), await message(siteB)];
    const outcomes = await dashboard.ingestPipeline.process(batch);
    expect(outcomes.flat().map((o) => o.status)).toEqual(['stored', 'stored', 'stored', 'stored']);
    // The same messages again: nothing stored twice, no second link.
    const again = await dashboard.ingestPipeline.process([batch[0] as IncomingMessage, await message(siteA)]);
    expect(again.flat().map((o) => o.status)).toEqual(['duplicate', 'stored']);

    const events = await pool.query<{ site: string; id: string }>(
      'SELECT site, id::text FROM events ORDER BY ingest_no',
    );
    expect(events.rows.map((r) => r.site).sort()).toEqual([siteA, siteA, siteA, siteB, siteB].sort());
    const links = await pool.query<{ site: string; no: string; ref: string }>(
      `SELECT site, no, ref FROM audit_chain WHERE source = 'event' ORDER BY site, no`,
    );
    const bySite = (site: string) => events.rows.filter((r) => r.site === site).map((r) => r.id);
    expect(links.rows.filter((l) => l.site === siteA).map((l) => l.ref)).toEqual(bySite(siteA));
    expect(links.rows.filter((l) => l.site === siteB).map((l) => l.ref)).toEqual(bySite(siteB));
    expect(links.rows.filter((l) => l.site === siteA).map((l) => Number(l.no))).toEqual([1, 2, 3]);

    const report = await verifyChains(pool, {});
    expect(report.mismatch).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.chains.filter((c) => c.site === siteA).map((c) => c.rows)).toEqual([3]);
  });

  it('lets the verifier find an event changed after it was chained', async () => {
    await pool.query(
      `UPDATE events SET data = jsonb_set(data, '{door}', '"back"') WHERE site = $1 AND seq = (SELECT min(seq) FROM events WHERE site = $1)`,
      [siteB],
    );
    const report = await verifyChains(pool, { site: siteB });
    expect(report.ok).toBe(false);
    expect(report.mismatch).toMatchObject({ site: siteB, no: 1, source: 'event' });
  });
});

/**
 * Choosing the path where TimescaleDB is listed as available but cannot be enabled. The list is
 * made to name it by a view that the database's search path puts before pg_catalog's.
 */
describe('a TimescaleDB that is available but cannot be enabled', () => {
  const databases: Array<{ url: string; drop: () => Promise<void> }> = [];
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });

  async function listedDatabase(setup: string): Promise<pg.Pool> {
    const database = await createTestDatabase();
    databases.push(database);
    const name = new URL(database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`
      ALTER DATABASE ${name} SET search_path = public, pg_catalog;
      CREATE VIEW public.pg_available_extensions AS
        SELECT 'timescaledb'::name AS name, '2.17.2'::text AS default_version, NULL::text AS installed_version,
               'stand-in'::text AS comment;
      ${setup}`);
    await admin.end();
    return new pg.Pool({ connectionString: database.url, max: 2 });
  }

  const warnings = () => {
    const seen: string[] = [];
    const log = {
      ...silentLogger,
      warn: (_: unknown, message: string) => seen.push(message),
    } as unknown as Logger;
    Object.assign(log, { child: () => log });
    return { log, seen };
  };

  it('uses native partitioning when CREATE EXTENSION fails, and remembers it', async () => {
    const pool = await listedDatabase('');
    const { log, seen } = warnings();
    try {
      const result = await migrate(pool, log);
      expect(result.mode).toBe('native');
      expect(seen).toEqual([expect.stringMatching(/could not be enabled/)]);
      const stored = await pool.query(`SELECT value FROM identgate_meta WHERE key = 'storage_mode'`);
      expect(stored.rows).toEqual([{ value: 'native' }]);
    } finally {
      await pool.end();
    }
  });

  it('uses native partitioning when CREATE EXTENSION ends the connection, as an unloaded TimescaleDB does (FATAL)', async () => {
    // TimescaleDB not in shared_preload_libraries answers CREATE EXTENSION with FATAL; this event
    // trigger ends the session the same way.
    const pool = await listedDatabase(`
      CREATE FUNCTION end_session() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$;
      CREATE EVENT TRIGGER end_session_on_extension ON ddl_command_start
        WHEN TAG IN ('CREATE EXTENSION') EXECUTE FUNCTION end_session();`);
    const { log, seen } = warnings();
    try {
      const result = await migrate(pool, log);
      expect(result.mode).toBe('native');
      expect(result.applied).toEqual(listMigrations().map((m) => m.version));
      expect(seen).toEqual([expect.stringMatching(/could not be enabled/)]);
      const partitioned = await pool.query(
        `SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'events'::regclass`,
      );
      expect(partitioned.rowCount).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
