// Where the ingest's database time goes: the pipeline (claim, insert with the hash chain and
// indexes, facts, alarms, commit) driven directly with batches that were checked beforehand —
// no broker, no signature checks, one transaction at a time — with every statement timed. Printed
// per event, beside a COPY of the same rows into a table of the same shape (the baseline, same
// run). Complements bench/ingest, which measures the whole path.
//
//   node bench/run.js pipeline-db   (BENCH_EVENTS, BENCH_GATEWAYS, BENCH_TRANSACTION, BENCH_DATABASE_URL)
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { IncomingMessage } from '../src/dashboard/ingest/ingest-pipeline.js';
import { type Envelope, signBatch } from '../src/protocol/envelope.js';
import { topics } from '../src/protocol/topics.js';
import { Uuidv7Generator } from '../src/protocol/uuidv7.js';
import { startTestBroker } from '../test/helpers/test-broker.js';
import { copyEventsBaseline, fmt, ingestDashboard, row, scratchDatabase, signedAccess } from './bench-kit.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 40_000);
const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 8);
/** Events per transaction: what the ingest takes at a time under load (256 KiB of payload). */
const PER_TRANSACTION = Number(process.env.BENCH_TRANSACTION ?? 800);
const site = `bench-${randomBytes(3).toString('hex')}`;
const database = await scratchDatabase();
// The dashboard needs a broker to start; nothing is published to it.
const broker = await startTestBroker();

// Time per statement, keyed by its first words, measured from sending to the result.
const spent = new Map<string, number>();
const query = pg.Client.prototype.query;
// biome-ignore lint/suspicious/noExplicitAny: wraps every overload of Client.query
(pg.Client.prototype as any).query = function (this: pg.Client, ...args: any[]) {
  const text: unknown = typeof args[0] === 'string' ? args[0] : args[0]?.text;
  // biome-ignore lint/suspicious/noExplicitAny: passes the overload through unchanged
  const result = (query as any).apply(this, args);
  if (typeof text === 'string' && result && typeof result.then === 'function') {
    const start = performance.now();
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 40);
    result.then(
      () => spent.set(key, (spent.get(key) ?? 0) + performance.now() - start),
      () => {},
    );
  }
  return result;
};

try {
  const { dashboard, gateways } = ingestDashboard({
    site,
    count: GATEWAYS,
    databaseUrl: database.url,
    brokerUrl: broker.url,
    poolSize: 4,
  });
  await dashboard.start();
  const pipeline = dashboard.ingestPipeline;

  // Each gateway's events as signed batches of 100, interleaved between gateways, checked now.
  const ids = new Uuidv7Generator();
  const time = new Date().toISOString();
  const perGateway = Math.ceil(EVENTS / GATEWAYS);
  const all: Envelope[] = [];
  const messages: IncomingMessage[] = [];
  for (let start = 0; start < perGateway; start += 100) {
    for (const g of gateways) {
      const events = Array.from(
        { length: Math.min(100, perGateway - start) },
        (_, i): Envelope =>
          signedAccess(site, g.id, start + i + 1, i, { id: ids.next(), time }, g.keys.privateKey),
      );
      all.push(...events);
      const message = {
        topic: topics.events(site, g.id),
        payload: Buffer.from(JSON.stringify(signBatch(site, g.id, events, g.keys.privateKey))),
      };
      messages.push({ ...message, checked: await pipeline.check(message) });
    }
  }
  const perMessage = 100;
  const messagesPerTransaction = Math.max(1, Math.round(PER_TRANSACTION / perMessage));
  // The first transactions warm caches and plans; they are not counted.
  const warmUp = messagesPerTransaction * 4;
  let counted = 0;
  let start = 0;
  for (let i = 0; i < messages.length; i += messagesPerTransaction) {
    if (i === warmUp) {
      spent.clear();
      start = performance.now();
    }
    const group = messages.slice(i, i + messagesPerTransaction);
    await pipeline.process(group);
    if (i >= warmUp) counted += group.reduce((n, m) => n + (m.checked?.length ?? 0), 0);
  }
  const elapsed = performance.now() - start;
  const stored = Number((await dashboard.pool.query('SELECT count(*) AS n FROM events')).rows[0]?.n);
  const { sameShape } = await copyEventsBaseline(dashboard.pool, all);
  await dashboard.stop();

  const rate = (counted * 1000) / elapsed;
  row(`baseline: raw COPY of the same ${fmt(all.length)} rows`, `${fmt(sameShape)} /s`);
  row(
    `pipeline, ${PER_TRANSACTION} events a transaction`,
    `${fmt(rate)} /s`,
    `${(rate / sameShape).toFixed(2)} x COPY, ${((elapsed * 1000) / counted).toFixed(1)} us/event`,
  );
  let inStatements = 0;
  for (const [statement, ms] of [...spent].sort((a, b) => b[1] - a[1])) {
    const us = (ms * 1000) / counted;
    inStatements += us;
    if (us >= 0.1) row(`  ${statement}`, `${us.toFixed(1)} us/event`);
  }
  row(
    '  the rest (node between statements)',
    `${((elapsed * 1000) / counted - inStatements).toFixed(1)} us/event`,
  );
  row('events stored', `${fmt(stored)} of ${fmt(all.length)}`);
} finally {
  await broker.stop();
  await database.drop();
}
