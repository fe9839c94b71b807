import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/dashboard/ingest/ingest-pipeline.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';
import { uniqueSite } from '../helpers/services.js';

/**
 * Two batches in the ingest pipeline at once (the ingest's default): the second may claim and
 * prepare while the first is held up, but never commits before it, so ingest numbers become
 * visible in order; and a first batch that fails lets the second through.
 */
const keys = generateSigningKeyPair();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig() {
  const [siteA, siteB] = [uniqueSite('ord'), uniqueSite('ord')] as [string, string];
  const { dashboard, url, stop } = await startIngestDashboardOnNewDatabase({
    site: siteA,
    gateways: ['gw-1', { site: siteB, id: 'gw-1' }],
    publicKey: keys.publicKey,
  });
  cleanups.push(stop);
  const pipeline = dashboard.ingestPipeline;
  const observer = new pg.Client({ connectionString: url });
  await observer.connect();
  // Holds site A's chain lock, so that a batch of site A stops in its insert until released.
  const blocker = new pg.Client({ connectionString: url });
  await blocker.connect();
  cleanups.push(async () => {
    await blocker.end().catch(() => {});
    await observer.end();
  });
  let seq = 0;
  const message = async (site: string): Promise<IncomingMessage> => {
    const envelope = signedEvent(
      { site, gateway: 'gw-1', seq: ++seq, kind: 'door.locked', data: { door: 'main' } },
      keys.privateKey,
    );
    const msg = { topic: topics.events(site, 'gw-1'), payload: Buffer.from(JSON.stringify(envelope)) };
    return { ...msg, checked: await pipeline.check(msg) };
  };
  const holdSiteA = async () => {
    await blocker.query('BEGIN');
    await blocker.query(`SELECT pg_advisory_xact_lock(hashtextextended('identgate-chain:' || $1, 0))`, [
      siteA,
    ]);
  };
  /** The pipeline's connections: those waiting on the held lock, and those idle in a transaction. */
  const sessions = async () => {
    const result = await observer.query<{ pid: number; waiting: boolean; idle: boolean }>(
      `SELECT pid, wait_event_type = 'Lock' AND wait_event = 'advisory' AS waiting,
              state = 'idle in transaction' AS idle
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), $1)`,
      [(blocker as unknown as { processID: number }).processID],
    );
    return result.rows;
  };
  const until = async (condition: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { siteA, siteB, pipeline, observer, blocker, message, holdSiteA, sessions, until };
}

describe('ingest pipeline: overlapping batches keep their order', () => {
  it('does not let a later batch commit before an earlier one that is held up', async () => {
    const { siteA, siteB, pipeline, observer, blocker, message, holdSiteA, sessions, until } = await rig();
    const [first, second] = [await message(siteA), await message(siteB)];
    await holdSiteA();
    const settled: string[] = [];
    const one = pipeline.process([first]).then((o) => {
      settled.push('first');
      return o;
    });
    const two = pipeline.process([second]).then((o) => {
      settled.push('second');
      return o;
    });
    // The first waits in its insert on site A's chain; the second, of another site, has claimed
    // its number and waits its turn, in its transaction, nothing of it visible.
    await until(async () => {
      const s = await sessions();
      return s.filter((x) => x.waiting).length === 1 && s.filter((x) => x.idle).length === 1;
    });
    const visible = await observer.query('SELECT count(*)::int AS n FROM events WHERE site = $1', [siteB]);
    expect(visible.rows[0].n).toBe(0);
    expect(settled).toEqual([]);
    await blocker.query('COMMIT');
    const [a, b] = await Promise.all([one, two]);
    expect(a[0]?.[0]?.status).toBe('stored');
    expect(b[0]?.[0]?.status).toBe('stored');
    expect(settled).toEqual(['first', 'second']);
    const order = await observer.query<{ site: string }>('SELECT site FROM events ORDER BY ingest_no');
    expect(order.rows.map((r) => r.site)).toEqual([siteA, siteB]);
  });

  it('lets the next batch through when the one before fails', async () => {
    const { siteA, siteB, pipeline, observer, message, holdSiteA, sessions, until } = await rig();
    const [first, second] = [await message(siteA), await message(siteB)];
    await holdSiteA();
    const one = pipeline.process([first]);
    one.catch(() => {});
    const two = pipeline.process([second]);
    await until(async () => (await sessions()).some((x) => x.waiting));
    const held = (await sessions()).find((x) => x.waiting);
    await observer.query('SELECT pg_terminate_backend($1)', [held?.pid]);
    await expect(one).rejects.toThrow();
    expect((await two)[0]?.[0]?.status).toBe('stored');
    const stored = await observer.query<{ site: string }>('SELECT site FROM events');
    expect(stored.rows.map((r) => r.site)).toEqual([siteB]);
  });
});
