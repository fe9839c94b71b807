// The dashboard under load, through its real HTTP server, broker and database:
//
// 1. Live-feed fan-out: simulated gateways publish signed events at BENCH_RATE (1,000) events/s
//    through a Mosquitto of the bench's own; the dashboard ingests them and streams them on
//    GET /api/v1/live to BENCH_CLIENTS (500) clients signed in as security staff (in two worker
//    threads). Each client measures event time → arrival (the badge → visible path, short of the
//    browser's rendering). Baseline: the same feed to a single client.
// 2. API under load (autocannon): GET /api/v1/overview (before and after the feed filled the
//    week's events) and GET /api/v1/alarms with a security session, beside GET / (the static
//    page, no session) as the baseline.
//
//   node bench/run.js dashboard   (BENCH_CLIENTS, BENCH_RATE, BENCH_SECONDS, BENCH_CONNECTIONS,
//                                   BENCH_DATABASE_URL, BENCH_MQTT_URL)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { Dashboard } from '../src/dashboard/dashboard.js';
import { silentLogger } from '../src/lib/logger.js';
import { exportPrivateKeyPem, exportPublicKey, generateSigningKeyPair } from '../src/protocol/signing.js';
import { ShiftClock } from '../test/helpers/shift-clock.js';
import { StaffClient } from '../test/helpers/staff.js';
import { startTestBroker } from '../test/helpers/test-broker.js';
import { row, scratchDatabase } from './bench-kit.js';
import type { FeedPhaseResult, FeedPublisherJob } from './dashboard-feed-publisher.js';
import type { SseClientsCommand, SseClientsJob, SseClientsResult } from './dashboard-sse-clients.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 500);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARM_UP_SECONDS = 2;
const GOAL_MS = 250;
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// Each stream is a socket at both ends (clients and server share this process), plus the pool,
// broker and autocannon connections. Node cannot raise its own limit: re-run under `ulimit -n`.
const neededFds = CLIENTS * 2 + CONNECTIONS * 2 + 256;
const softFds = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
if (softFds < neededFds) {
  if (process.env.IDG_BENCH_FDS_RAISED) {
    throw new Error(`need ${neededFds} open files, the hard limit allows ${softFds}: raise it (ulimit -Hn)`);
  }
  const rerun = spawnSync(
    'sh',
    [
      '-c',
      `ulimit -n ${neededFds} && exec "$@"`,
      'sh',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, IDG_BENCH_FDS_RAISED: '1' } },
  );
  process.exit(rerun.status ?? 1);
}

/** A TypeScript worker: loader hooks are per thread, so the worker registers tsx first. */
function tsWorker(file: string, workerData: unknown): Worker {
  const href = new URL(file, import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

function next<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

interface FanOut {
  clients: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
  withinGoal: number;
  fewest: number;
  expected: number;
  reconnects: number;
  serverLoop: number;
  clientLoop: number;
  /** Batches the hub handed each stream per second: one write per stream each. */
  batches: number;
}

function fromHistogram(histogram: Uint32Array) {
  let total = 0;
  for (const n of histogram) total += n;
  const at = (p: number) => {
    const target = Math.ceil((p / 100) * total);
    let seen = 0;
    for (let ms = 0; ms < histogram.length; ms++) {
      seen += histogram[ms] as number;
      if (seen >= target) return ms;
    }
    return Number.NaN;
  };
  let within = 0;
  for (let ms = 0; ms <= GOAL_MS; ms++) within += histogram[ms] as number;
  let max = 0;
  for (let ms = histogram.length - 1; ms >= 0; ms--) {
    if ((histogram[ms] as number) > 0) {
      max = ms;
      break;
    }
  }
  return { p50: at(50), p99: at(99), max, withinGoal: total === 0 ? 0 : within / total };
}

async function fanOut(
  dashboard: Dashboard,
  liveUrl: string,
  cookie: string,
  publisher: Worker,
  clients: number,
): Promise<FanOut> {
  // Reading 1,000 events/s for 500 clients keeps one thread busy: spread them over two.
  const threads = clients >= 100 ? 2 : 1;
  const workers = Array.from({ length: threads }, (_, i) => {
    const share = Math.floor(clients / threads) + (i < clients % threads ? 1 : 0);
    return tsWorker('./dashboard-sse-clients.ts', {
      url: liveUrl,
      cookie,
      clients: share,
    } satisfies SseClientsJob);
  });
  const tell = (command: SseClientsCommand) => {
    for (const w of workers) w.postMessage(command);
  };
  try {
    await Promise.all(workers.map((w) => next<'connected'>(w)));
    const measureFrom = Date.now() + WARM_UP_SECONDS * 1000;
    tell({ measureFrom });
    const loopBefore = performance.eventLoopUtilization();
    let batches = 0;
    const stopCounting = dashboard.hub.subscribe({
      push: () => {
        batches += 1;
        return true;
      },
      close: () => {},
    });
    publisher.postMessage({ seconds: WARM_UP_SECONDS + SECONDS, measureFrom });
    const sent = await next<FeedPhaseResult>(publisher);
    const loop = performance.eventLoopUtilization(loopBefore);
    stopCounting();
    const results = workers.map((w) => next<SseClientsResult>(w));
    tell({ expected: sent.measured });
    const all = await Promise.all(results);
    const histogram = new Uint32Array(all[0]?.histogram.length ?? 0);
    for (const r of all) {
      for (let ms = 0; ms < histogram.length; ms++) {
        histogram[ms] = (histogram[ms] as number) + (r.histogram[ms] as number);
      }
    }
    const failures = all.flatMap((r) => r.failures);
    if (failures.length > 0) process.stderr.write(`client errors: ${failures.join('; ')}\n`);
    return {
      clients,
      rate: sent.rate,
      ...fromHistogram(histogram),
      fewest: Math.min(...all.map((r) => r.fewest)),
      expected: sent.measured,
      reconnects: all.reduce((n, r) => n + r.reconnects, 0),
      serverLoop: loop.utilization,
      clientLoop: Math.max(...all.map((r) => r.loop)),
      batches: batches / (WARM_UP_SECONDS + SECONDS),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Load> {
  // In a worker thread of autocannon's own, so that the load does not run on the server's loop.
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS, workers: 1 });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

const site = `bench-${randomBytes(3).toString('hex')}`;
const database = await scratchDatabase(ADMIN_URL);
const broker = process.env.BENCH_MQTT_URL ? undefined : await startTestBroker();
const brokerUrl = process.env.BENCH_MQTT_URL ?? (broker?.url as string);
let publisher: Worker | undefined;

try {
  const gateways = Array.from({ length: 4 }, (_, i) => ({ id: `gw-${i}`, keys: generateSigningKeyPair() }));
  const clock = new ShiftClock();
  const dashboard = new Dashboard({
    clock,
    config: {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0 },
      database: { url: database.url, poolSize: 10 },
      mqtt: { url: brokerUrl, clientId: `bench-dash-${site}` },
      ingest: { sites: [site] },
      gateways: gateways.map((g) => ({ site, id: g.id, publicKey: exportPublicKey(g.keys.publicKey) })),
      keys: {},
    },
    log: silentLogger,
    masterKey: randomBytes(32),
  });
  await dashboard.start();
  const base = dashboard.url as string;
  // A security officer signed in through the real sign-in (password, TOTP enrolment, code).
  const staff = await StaffClient.create(dashboard, clock, 'security');
  const session = { cookie: staff.cookie };
  const check = await fetch(`${base}/api/v1/overview`, { headers: session });
  if (check.status !== 200) throw new Error(`the security session was refused: ${check.status}`);

  const job: FeedPublisherJob = {
    url: brokerUrl,
    site,
    rate: RATE,
    gateways: gateways.map((g) => ({ id: g.id, privateKeyPem: exportPrivateKeyPem(g.keys.privateKey) })),
  };
  publisher = tsWorker('./dashboard-feed-publisher.ts', job);
  await next<'ready'>(publisher);

  const overviewEmpty = await load(`${base}/api/v1/overview`, session);
  const single = await fanOut(dashboard, `${base}/api/v1/live`, staff.cookie, publisher, 1);
  const many = await fanOut(dashboard, `${base}/api/v1/live`, staff.cookie, publisher, CLIENTS);

  const statics = await load(`${base}/`);
  const overview = await load(`${base}/api/v1/overview`, session);
  const alarms = await load(`${base}/api/v1/alarms`, session);
  const events = Number((await dashboard.pool.query('SELECT count(*) AS n FROM events')).rows[0]?.n);
  await dashboard.stop();

  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const pct = (n: number) => `${(n * 100).toFixed(0)} %`;
  process.stdout.write(
    `live feed at ${RATE} events/s for ${SECONDS} s, event time -> arrival at each client` +
      ` (machine load ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores)\n`,
  );
  for (const r of [single, many]) {
    const label = r === single ? 'baseline: 1 client' : `${r.clients} clients`;
    const ratio = r === single ? undefined : `p99 ${(r.p99 / Math.max(1, single.p99)).toFixed(1)} x baseline`;
    row(`${label}: p50 / p99 / max`, `${ms(r.p50)} / ${ms(r.p99)} / ${ms(r.max)}`, ratio);
    row(`${label}: arrived within ${GOAL_MS} ms`, `${(r.withinGoal * 100).toFixed(1)} %`);
    row(
      `${label}: events, fewest per client / sent`,
      `${r.fewest} / ${r.expected}`,
      `reconnects ${r.reconnects}`,
    );
    row(
      `${label}: busy, dashboard / busiest client thread`,
      `${pct(r.serverLoop)} / ${pct(r.clientLoop)}`,
      `${r.rate.toFixed(0)} events/s sent`,
    );
    row(
      `${label}: batches to each stream`,
      `${r.batches.toFixed(0)} /s`,
      `${(r.rate / r.batches).toFixed(1)} events each`,
    );
  }
  process.stdout.write(
    `API, ${CONNECTIONS} connections for ${SECONDS} s each (autocannon); the feed stored ${events} events\n`,
  );
  for (const [label, r] of [
    ['baseline: GET / (static, no session)', statics],
    ['GET /api/v1/overview (security), no events', overviewEmpty],
    ['GET /api/v1/overview (security), after the feed', overview],
    ['GET /api/v1/alarms (security)', alarms],
  ] as const) {
    const ratio = r === statics ? undefined : `${(r.rps / statics.rps).toFixed(3)} x static`;
    row(label, `${r.rps.toFixed(0)} req/s`, ratio);
    row(
      '  latency p50 / p99',
      `${r.p50} / ${r.p99} ms`,
      r.failed > 0 ? `${r.failed} failed or non-2xx` : undefined,
    );
  }
  const met = many.p99 <= GOAL_MS && many.fewest >= many.expected;
  process.stdout.write(
    `goal: ${CLIENTS} clients, p99 <= ${GOAL_MS} ms, nothing lost: ${met ? 'met' : 'MISSED'}\n`,
  );
} finally {
  publisher?.postMessage('stop');
  await publisher?.terminate();
  await broker?.stop();
  await database.drop();
}
