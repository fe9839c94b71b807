// Ingest throughput: N simulated gateways publish signed events through a real broker into
// PostgreSQL via the dashboard's ingest (verify, claim the sequence number, insert, commit, then
// PUBACK). Printed beside the rate of a raw COPY of the same rows into the same table shape (the
// same columns, partitioning and indexes), measured in the same run: the limit the database
// itself sets. A COPY into a table with the primary key alone is printed too.
//
// 200,000 events by default (BENCH_EVENTS). Each message carries BENCH_BATCH events (default
// 100) as a gateway's signed batch, which is how a gateway sends a backlog; BENCH_BATCH=1 sends
// every event on its own, as a gateway with nothing waiting does.
//
//   node bench/run.js ingest   (BENCH_EVENTS, BENCH_GATEWAYS, BENCH_BATCH, BENCH_VERIFY_THREADS,
//                               BENCH_DATABASE_URL, BENCH_MQTT_URL)
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { batchPayload, type Envelope } from '../src/protocol/envelope.js';
import { topics } from '../src/protocol/topics.js';
import { Uuidv7Generator } from '../src/protocol/uuidv7.js';
import { startTestBroker } from '../test/helpers/test-broker.js';
import {
  copyEventsBaseline,
  fmt,
  ingestDashboard,
  percentile,
  row,
  scratchDatabase,
  signedAccess,
} from './bench-kit.js';

// Ten seconds and more at the goal's rate: a rate over two seconds (40,000, the old default) moved
// by ±10 % from run to run, too short to call sustained.
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 8);
const THREADS = Number(process.env.BENCH_VERIFY_THREADS ?? 1);
const BATCH = Math.max(1, Number(process.env.BENCH_BATCH ?? 100));
const site = `bench-${randomBytes(3).toString('hex')}`;
const database = await scratchDatabase();
// A Mosquitto of our own, configured as production should be (no queue limit, large in-flight window).
const broker = process.env.BENCH_MQTT_URL ? undefined : await startTestBroker();
const brokerUrl = process.env.BENCH_MQTT_URL ?? (broker?.url as string);

try {
  const { dashboard, gateways } = ingestDashboard({
    site,
    count: GATEWAYS,
    databaseUrl: database.url,
    brokerUrl: brokerUrl,
    poolSize: 8,
    verifyThreads: THREADS,
  });
  await dashboard.start();

  // Pre-signed events, so the gateways' signing cost is not part of the measurement.
  const ids = new Uuidv7Generator();
  const perGateway = Math.ceil(EVENTS / GATEWAYS);
  const time = new Date().toISOString();
  const batches = gateways.map((g) =>
    Array.from(
      { length: perGateway },
      (_, i): Envelope => signedAccess(site, g.id, i + 1, i, { id: ids.next(), time }, g.keys.privateKey),
    ),
  );
  const total = perGateway * GATEWAYS;
  // Each gateway's events as the messages it sends: one event each, or signed batches.
  const messages = batches.map((own, gi) => {
    const gateway = gateways[gi] as (typeof gateways)[number];
    const payloads: string[] = [];
    for (let start = 0; start < own.length; start += BATCH) {
      const group = own.slice(start, start + BATCH);
      payloads.push(
        group.length === 1
          ? JSON.stringify(group[0])
          : batchPayload(site, gateway.id, group, gateway.keys.privateKey).toString('utf8'),
      );
    }
    return payloads;
  });
  // Send times are written by the publisher straight into shared memory (absolute ms, one per
  // message), arrival times kept here; the latencies are worked out afterwards. A message per
  // event between the threads cost the publisher and the dashboard's thread more than a tenth of a core.
  const sent = messages.map((own) => new Float64Array(new SharedArrayBuffer(8 * own.length)));
  const arrivedAt = new Map<string, number>();
  let stored = 0;
  const done = new Promise<void>((resolve) => {
    dashboard.hub.subscribe({
      push: (events) => {
        const now = performance.timeOrigin + performance.now();
        for (const e of events) arrivedAt.set(e.id, now);
        stored += events.length;
        if (stored >= total) resolve();
        return true;
      },
      close: () => {},
    });
  });
  const worker = new Worker(new URL('./ingest-publisher.mjs', import.meta.url), {
    workerData: {
      url: brokerUrl,
      batches: batches.map((_, gi) => ({
        clientId: `bench-${site}-${gateways[gi]?.id}`,
        topic: topics.events(site, gateways[gi]?.id as string),
        payloads: messages[gi],
        sent: sent[gi],
      })),
    },
  });
  await new Promise<void>((resolve) => worker.once('message', () => resolve()));
  const start = performance.now();
  worker.postMessage('go');
  await done;
  const elapsed = performance.now() - start;
  const rate = (total * 1000) / elapsed;
  const latencies = batches
    .flatMap((own, gi) =>
      own.map((e, i) => (arrivedAt.get(e.id) ?? Number.NaN) - (sent[gi]?.[Math.floor(i / BATCH)] ?? 0)),
    )
    .filter((latency) => Number.isFinite(latency))
    .sort((a, b) => a - b);
  await worker.terminate();

  // Baselines: COPY of the same rows into a table of the same shape, and with the primary key alone.
  const pool = dashboard.pool;
  const {
    sameShape: copyRate,
    primaryKeyOnly: copyPkRate,
    everyRow: copyEveryRowRate,
  } = await copyEventsBaseline(pool, batches.flat());
  const lost =
    total - Number((await pool.query(`SELECT count(*) AS n FROM events WHERE site = $1`, [site])).rows[0]?.n);
  await dashboard.stop();

  row(`baseline: raw COPY of the same ${fmt(total)} rows`, `${fmt(copyRate)} /s`);
  row('  (into the primary key alone)', `${fmt(copyPkRate)} /s`);
  row('  (with chain link and sequence claim: events)', `${fmt(copyEveryRowRate)} /s`);
  row(
    `ingest: ${GATEWAYS} gateways -> broker -> PostgreSQL, ${BATCH} per message`,
    `${fmt(rate)} /s`,
    `${(rate / copyRate).toFixed(2)} x COPY, ${(rate / copyEveryRowRate).toFixed(2)} x COPY with chain link and claim`,
  );
  row('end-to-end latency p50', `${percentile(latencies, 50).toFixed(1)} ms`);
  row('end-to-end latency p99', `${percentile(latencies, 99).toFixed(1)} ms`);
  row('events lost', String(lost));
  process.stdout.write(
    `goal >= 50 % of COPY: ${rate >= copyRate / 2 ? 'met' : 'MISSED'}; goal >= 20,000 events/s: ${rate >= 20_000 ? 'met' : 'MISSED'}\n`,
  );
} finally {
  await broker?.stop();
  await database.drop();
}
