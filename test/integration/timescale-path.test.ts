import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import type { IncomingMessage } from '../../src/dashboard/ingest/ingest-pipeline.js';
import { listMigrations, migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboard } from '../helpers/ingest-dashboard.js';
import { createTestDatabase, uniqueSite } from '../helpers/services.js';

/**
 * The TimescaleDB path's own SQL. TimescaleDB cannot be installed on the machines that run these
 * tests, so its two functions the migrations call, `by_range` and `create_hypertable`, are
 * stood in for by functions that note the call and leave `events` a plain table. What this
 * proves is everything of that path that is this project's: its migrations apply in order with
 * their `timescale` variants, and on the table they leave (row triggers, no transition tables,
 * no partitions) the ingest stores events once each and chains them as the verifier expects.
 * What TimescaleDB itself does with the table (chunks, drop_chunks in retention) is not tested.
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
    // Hypertables have no transition tables: events keep the per-row chain trigger here.
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
